using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Pipeline;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyPlatform.DataPlane.Tests.Pipeline;

/// <summary>How an attempt's end is judged: what it tells the circuit, whether to retry, what to answer.</summary>
public sealed class AttemptOutcomeTests
{
    private static readonly RetryPolicy Everything = RetryPolicy.From(new RetrySpec { MaxAttempts = 3, RetryOn = ["connect-failure", "reset", "timeout", "503"] });
    private static readonly RetryPolicy Nothing = RetryPolicy.From(new RetrySpec { MaxAttempts = 3, RetryOn = [] });
    private static readonly RetryPolicy ConnectOnly = RetryPolicy.From(null);

    private static AttemptFacts Facts(ForwarderError error, Exception? exception = null, int retryStatus = 0, int backendStatus = 0,
        bool deadline = false, bool headersTimedOut = false, bool aborted = false, bool started = false) =>
        new(error, exception, retryStatus, backendStatus, deadline, headersTimedOut, aborted, started);

    private static AttemptOutcome Of(AttemptFacts facts, RetryPolicy? retry = null, long? maxBody = null) => AttemptOutcome.Of(facts, retry ?? Everything, maxBody);

    [Fact]
    public void A_dropped_status_is_a_failure_worth_retrying_and_502_if_no_attempt_is_left()
    {
        var outcome = Of(Facts(ForwarderError.None, retryStatus: 503));

        Assert.Equal(BackendSignal.Failed, outcome.Signal);
        Assert.True(outcome.Retry);
        Assert.Equal("status 503", outcome.RetryReason);
        Assert.Equal((502, "backend-error"), (outcome.Answer?.Status, outcome.Answer?.Type));
        Assert.Contains("answered 503", outcome.Answer?.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(200, BackendSignal.Succeeded)]
    [InlineData(404, BackendSignal.Succeeded)]
    [InlineData(500, BackendSignal.Failed)]
    [InlineData(503, BackendSignal.Failed)]
    public void A_passed_on_answer_is_the_client_s_and_only_a_5xx_counts_against_the_backend(int status, BackendSignal signal)
    {
        var outcome = Of(Facts(ForwarderError.None, backendStatus: status));

        Assert.Equal(signal, outcome.Signal);
        Assert.False(outcome.Retry);
        Assert.Null(outcome.Answer);
    }

    [Fact]
    public void The_route_s_time_out_is_a_504_never_retried_even_when_time_outs_are()
    {
        var outcome = Of(Facts(ForwarderError.RequestCanceled, new TaskCanceledException(), deadline: true));

        Assert.Equal(BackendSignal.Failed, outcome.Signal);
        Assert.Equal("route time-out", outcome.Failure);
        Assert.False(outcome.Retry);
        Assert.Equal((504, "backend-timeout"), (outcome.Answer?.Status, outcome.Answer?.Type));
        Assert.Contains("route's time-out", outcome.Answer?.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_client_that_left_judges_nothing_and_gets_no_answer()
    {
        var outcome = Of(Facts(ForwarderError.RequestBodyCanceled, new OperationCanceledException(), aborted: true));

        Assert.Equal(BackendSignal.Inconclusive, outcome.Signal);
        Assert.False(outcome.Retry);
        Assert.Null(outcome.Answer);
    }

    [Fact]
    public void A_body_over_the_route_limit_found_while_streaming_is_413_naming_the_limit_and_not_the_backend_s_fault()
    {
        var tooLarge = new BadHttpRequestException("Request body too large.", StatusCodes.Status413PayloadTooLarge);
        var outcome = Of(Facts(ForwarderError.RequestBodyClient, new IOException("body", tooLarge)), maxBody: 1024);

        Assert.Equal(BackendSignal.Inconclusive, outcome.Signal);
        Assert.False(outcome.Retry);
        Assert.Equal((413, "body-too-large"), (outcome.Answer?.Status, outcome.Answer?.Type));
        Assert.Contains("(1024 bytes)", outcome.Answer?.Detail, StringComparison.Ordinal);
    }

    public static TheoryData<Exception> ConnectFailures() =>
    [
        new HttpRequestException(HttpRequestError.ConnectionError, "refused"),
        new HttpRequestException(HttpRequestError.NameResolutionError, "no such host"),
        new HttpRequestException("wrapped", new SocketException((int)SocketError.ConnectionRefused)),
        new AggregateException(new IOException("x", new SocketException((int)SocketError.HostUnreachable))),
    ];

    [Theory]
    [MemberData(nameof(ConnectFailures))]
    public void A_connect_failure_is_502_backend_unreachable_retried_when_the_policy_retries_connect_failures(Exception exception)
    {
        var outcome = Of(Facts(ForwarderError.Request, exception), ConnectOnly);

        Assert.Equal(BackendSignal.Failed, outcome.Signal);
        Assert.Equal("connect failure", outcome.Failure);
        Assert.True(outcome.Retry);
        Assert.Equal((502, "backend-unreachable"), (outcome.Answer?.Status, outcome.Answer?.Type));
        Assert.False(Of(Facts(ForwarderError.Request, exception), Nothing).Retry);
    }

    [Fact]
    public void A_transport_failure_after_connecting_is_retried_only_on_reset()
    {
        var facts = Facts(ForwarderError.Request, new HttpRequestException(HttpRequestError.ResponseEnded, "ended"));

        var outcome = Of(facts);
        Assert.Equal("transport failure", outcome.RetryReason);
        Assert.True(outcome.Retry);
        Assert.False(Of(facts, ConnectOnly).Retry);
        Assert.Equal((502, "backend-unreachable"), (outcome.Answer?.Status, outcome.Answer?.Type));
    }

    [Fact]
    public void A_connect_time_out_is_retried_as_a_connect_failure_and_other_time_outs_only_on_timeout()
    {
        var connect = Facts(ForwarderError.RequestTimedOut, new HttpRequestException("x", new TimeoutException()));
        var other = Facts(ForwarderError.RequestTimedOut, new TaskCanceledException());

        Assert.Equal(("connect time-out", true), (Of(connect, ConnectOnly).RetryReason, Of(connect, ConnectOnly).Retry));
        Assert.Equal(("time-out", false), (Of(other, ConnectOnly).RetryReason, Of(other, ConnectOnly).Retry));
        Assert.True(Of(other).Retry);
        Assert.Equal((504, "backend-timeout"), (Of(other).Answer?.Status, Of(other).Answer?.Type));
        Assert.Equal("time-out", Of(connect).Failure);
    }

    [Fact]
    public void The_504_says_whether_the_response_headers_time_out_ran_out()
    {
        var headers = Of(Facts(ForwarderError.RequestCanceled, new TaskCanceledException(), headersTimedOut: true));
        var activity = Of(Facts(ForwarderError.RequestCanceled, new TaskCanceledException()));

        Assert.Contains("response headers", headers.Answer?.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("response headers", activity.Answer?.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void An_invalid_answer_is_a_502_failure_never_retried()
    {
        var outcome = Of(Facts(ForwarderError.ResponseHeaders, new HttpRequestException("bad")));

        Assert.Equal((BackendSignal.Failed, false), (outcome.Signal, outcome.Retry));
        Assert.Equal((502, "backend-unreachable"), (outcome.Answer?.Status, outcome.Answer?.Type));
    }

    [Fact]
    public void A_response_broken_before_a_byte_reached_the_client_is_a_reset_and_after_one_it_is_nothing_to_answer()
    {
        var before = Of(Facts(ForwarderError.ResponseBodyDestination, new IOException()));
        Assert.Equal((BackendSignal.Failed, "reset", true), (before.Signal, before.RetryReason, before.Retry));
        Assert.Equal(502, before.Answer?.Status);
        Assert.False(Of(Facts(ForwarderError.ResponseBodyDestination, new IOException()), ConnectOnly).Retry);

        var after = Of(Facts(ForwarderError.ResponseBodyDestination, new IOException(), started: true));
        Assert.Equal((BackendSignal.Failed, "ResponseBodyDestination", false), (after.Signal, after.Failure, after.Retry));
        Assert.Null(after.Answer);
        Assert.Null(Of(Facts(ForwarderError.UpgradeResponseDestination, started: true)).Answer);
    }

    [Fact]
    public void A_request_body_the_client_breaks_is_its_400_and_no_failure_is_the_backends_once_the_answer_started()
    {
        // A malformed or broken-off body (a chunk size that overflows) is the client's fault, not the backend's.
        var outcome = Of(Facts(ForwarderError.RequestBodyClient, new IOException("Bad chunk size data.")));
        Assert.Equal(BackendSignal.Inconclusive, outcome.Signal);
        Assert.Equal((400, "bad-request"), (outcome.Answer?.Status, outcome.Answer?.Type));
        Assert.Equal((502, "backend-error"), (Of(Facts(ForwarderError.RequestBodyCanceled, new IOException("client"))).Answer?.Status,
            Of(Facts(ForwarderError.RequestBodyCanceled, new IOException("client"))).Answer?.Type));

        var started = Of(Facts(ForwarderError.ResponseBodyClient, new IOException("client"), started: true));
        Assert.Equal(BackendSignal.Inconclusive, started.Signal);
        Assert.Null(started.Answer);
        // A request error once the answer started is no longer the backend's to judge either.
        Assert.Null(Of(Facts(ForwarderError.Request, new IOException(), started: true)).Answer);
    }

    [Fact]
    public void Judging_a_successful_attempt_allocates_nothing()
    {
        var facts = Facts(ForwarderError.None, backendStatus: 200);
        Of(facts);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
            Of(facts);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
