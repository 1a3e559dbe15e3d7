using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Metrics;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// Counts an attempt on its backend's <see cref="TrafficCounters"/>: every attempt, retried ones
/// included, under the status the backend answered, or the worker's own 502/504 when it gave none.
/// </summary>
public static class AttemptAccounting
{
    /// <summary>Records the attempt that <paramref name="exchange"/> just made on <paramref name="backend"/>; returns the status it was counted under.</summary>
    public static int Record(HttpContext context, ProxyExchange exchange, Backend backend, in AttemptOutcome outcome, long elapsedTicks)
    {
        var status = StatusOf(context, exchange, outcome);
        // The response body travels to the client only from the attempt whose answer was passed on.
        var bytesOut = exchange.RetryStatus == 0 && exchange.BackendStatus != 0 ? CountingStream.BytesOf(context.Response) : 0;
        backend.Traffic?.Record(status, CountingStream.BytesOf(context.Request), bytesOut, elapsedTicks);
        return status;
    }

    /// <summary>What an attempt came to: the backend's status, or the worker's own 502/504 when the backend gave none (499 when the client left).</summary>
    public static int StatusOf(HttpContext context, ProxyExchange exchange, in AttemptOutcome outcome)
    {
        if (exchange.RetryStatus != 0)
            return exchange.RetryStatus;
        if (exchange.BackendStatus != 0)
            return exchange.BackendStatus;
        if (outcome.Answer is { } problem)
            return problem.Status;
        return context.RequestAborted.IsCancellationRequested ? 499 : StatusCodes.Status502BadGateway;
    }
}
