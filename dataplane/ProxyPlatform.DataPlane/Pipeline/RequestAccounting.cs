using System.Diagnostics;
using ProxyPlatform.DataPlane.Metrics;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// Counts a request on its route's <see cref="TrafficCounters"/> when disposed, however the request
/// ended: under the status the client got (499 for a client that went away before an answer
/// started, as nginx logs it), with its bytes both ways and its latency. A struct in a
/// <c>using</c>: it lives in the request's state machine, so it costs no allocation.
/// </summary>
public readonly struct RequestAccounting(HttpContext context, TrafficCounters? traffic) : IDisposable
{
    private readonly long _started = Stopwatch.GetTimestamp();

    public void Dispose()
    {
        if (traffic is null)
            return;
        var response = context.Response;
        var status = !response.HasStarted && context.RequestAborted.IsCancellationRequested ? 499 : response.StatusCode;
        // Bodies without a Content-Length were counted as they went through, if the request got that far.
        traffic.Record(status, CountingStream.BytesOf(context.Request), CountingStream.BytesOf(response), Stopwatch.GetTimestamp() - _started);
    }

    /// <summary>
    /// Wraps a request body that has no Content-Length in a <see cref="CountingStream"/>, so that the
    /// bytes that really went through are counted; bodies with one are counted from it.
    /// </summary>
    public static void CountBodyWithoutLength(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentLength is null && context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>() is { CanHaveBody: true })
            request.Body = new CountingStream(request.Body);
    }
}
