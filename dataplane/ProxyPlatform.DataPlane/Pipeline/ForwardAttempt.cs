using System.Diagnostics;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Forwarding;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// One attempt of a request on one backend, through YARP's <see cref="IHttpForwarder"/>: under the
/// cluster's response-headers time-out and the route's deadline, counted in the backend's requests
/// in flight, classified (<see cref="AttemptOutcome"/>) and told to the backend's circuit.
/// </summary>
public sealed class ForwardAttempt(IHttpForwarder forwarder, ProxyTransformer transformer, ILogger<ProxyHandler> logger)
{
    public async Task<AttemptOutcome> SendAsync(HttpContext context, ProxyExchange exchange, Backend backend, ForwarderRequestConfig requestConfig, CancellationTokenSource? deadline)
    {
        var cluster = exchange.Cluster;
        CancellationTokenSource? headersTimer = null;
        if (cluster.ResponseHeadersTimeout is { } headersTimeout && headersTimeout != requestConfig.ActivityTimeout)
        {
            headersTimer = deadline is null ? new CancellationTokenSource() : CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
            headersTimer.CancelAfter(headersTimeout);
        }
        exchange.HeadersTimer = headersTimer;
        var token = headersTimer?.Token ?? deadline?.Token ?? CancellationToken.None;
        backend.State.Started();
        ForwarderError error;
        try
        {
            error = await forwarder.SendAsync(context, backend.Address, cluster.Pool.Invoker, requestConfig, transformer, token);
        }
        finally
        {
            backend.State.Finished();
            exchange.HeadersTimer = null;
        }
        var now = Stopwatch.GetTimestamp();
        var deadlineExpired = deadline?.IsCancellationRequested == true;
        var facts = new AttemptFacts(error, error == ForwarderError.None ? null : context.Features.Get<IForwarderErrorFeature>()?.Exception,
            exchange.RetryStatus, exchange.BackendStatus, deadlineExpired,
            HeadersTimedOut: headersTimer?.IsCancellationRequested == true && !deadlineExpired,
            context.RequestAborted.IsCancellationRequested, context.Response.HasStarted);
        headersTimer?.Dispose();

        var outcome = AttemptOutcome.Of(facts, cluster.Retry, exchange.Route.MaxRequestBodyBytes);
        switch (outcome.Signal)
        {
            case BackendSignal.Succeeded:
                backend.State.Succeeded();
                break;
            case BackendSignal.Failed:
                if (backend.State.Failed(cluster.Breaker, now))
                {
                    using var scope = exchange.InScope ? null : logger.BeginScope(exchange);
                    logger.LogWarning("Circuit of backend {Backend} of cluster {Cluster} opened after {Reason}", backend.Id, cluster.Name, outcome.Failure);
                }
                break;
            case BackendSignal.Inconclusive:
                backend.State.ProbeAbandoned();
                break;
        }
        return outcome;
    }
}
