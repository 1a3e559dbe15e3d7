using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Forwarding;
using ProxyPlatform.DataPlane.Pipeline;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.RequestPathParts;

namespace ProxyPlatform.DataPlane.Tests.Pipeline;

/// <summary>How each attempt is counted on its backend.</summary>
public sealed class AttemptAccountingTests
{
    private static readonly AttemptOutcome Timeout = new(BackendSignal.Failed, "time-out", false, "time-out", Problem.BackendTimeout("late"));

    private static ProxyExchange Exchange(out Backend backend)
    {
        var cluster = Cluster(null, ("a", "http://127.0.0.1:9"));
        backend = cluster.Backends[0];
        var exchange = new ProxyExchange("req-1", Route(cluster), cluster, new ForwardedValues("127.0.0.1", "http", null, "127.0.0.1"), null);
        exchange.StartAttempt(backend, mayRetryOnStatus: true);
        return exchange;
    }

    [Fact]
    public void An_attempt_counts_under_the_dropped_status_then_the_backend_s_then_the_worker_s_own()
    {
        var context = Request();
        var exchange = Exchange(out _);

        Assert.Equal(502, AttemptAccounting.StatusOf(context, exchange, default));
        Assert.Equal(504, AttemptAccounting.StatusOf(context, exchange, Timeout));
        exchange.BackendStatus = 200;
        Assert.Equal(200, AttemptAccounting.StatusOf(context, exchange, Timeout));
        exchange.RetryStatus = 503;
        Assert.Equal(503, AttemptAccounting.StatusOf(context, exchange, Timeout));

        using var left = new CancellationTokenSource();
        left.Cancel();
        context.RequestAborted = left.Token;
        Assert.Equal(499, AttemptAccounting.StatusOf(context, Exchange(out _), default));
    }

    [Fact]
    public void Only_the_attempt_whose_answer_was_passed_on_counts_the_response_bytes()
    {
        var context = Request("PUT", body: new byte[100]);
        context.Response.ContentLength = 7;
        var exchange = Exchange(out var backend);

        exchange.BackendStatus = 503;
        exchange.RetryStatus = 503;
        Assert.Equal(503, AttemptAccounting.Record(context, exchange, backend, default, 10));
        exchange.StartAttempt(backend, mayRetryOnStatus: false);
        AttemptAccounting.Record(context, exchange, backend, Timeout, 10);
        exchange.StartAttempt(backend, mayRetryOnStatus: false);
        exchange.BackendStatus = 200;
        AttemptAccounting.Record(context, exchange, backend, default, 10);

        var reading = backend.Traffic!.Read();
        Assert.Equal([0, 1, 0, 0, 2], reading.RequestsByClass);
        Assert.Equal(300, reading.BytesIn);
        Assert.Equal(7, reading.BytesOut);
    }
}
