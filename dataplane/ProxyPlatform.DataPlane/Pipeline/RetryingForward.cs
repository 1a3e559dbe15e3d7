using System.Diagnostics;
using ProxyPlatform.DataPlane.LoadBalancing;
using ProxyPlatform.DataPlane.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// Sends an admitted request to its cluster: each attempt to the backend <see cref="BackendChoice"/>
/// gives (affinity first, open circuits never, untried backends before tried ones) through
/// <see cref="ForwardAttempt"/>, and one more while the outcome is worth it, the method and body
/// allow it, the cluster's <c>retry.maxAttempts</c> is not reached and its retry budget has room.
/// A body that may be retried is kept for replay first. The whole exchange runs under the route's
/// time-out; when no backend's answer was passed on, the last attempt's problem is the answer.
/// </summary>
public sealed class RetryingForward(ForwardAttempt attempt, ILogger<ProxyHandler> logger, ILoggerFactory loggers)
{
    /// <summary>YARP's forwarder logs a line per request at Information; only then is a per-request scope worth opening.</summary>
    private readonly ILogger _forwarderLog = loggers.CreateLogger("Yarp.ReverseProxy.Forwarder.HttpForwarder");

    public async Task SendAsync(HttpContext context, CompiledRoute route, Admission admitted)
    {
        var (cluster, request) = (admitted.Cluster, context.Request);
        var exchange = new ProxyExchange(context.TraceIdentifier, route, cluster, admitted.Forwarded, cluster.Affinity?.KeyOf(request));
        context.Features.Set(exchange);
        using var scope = _forwarderLog.IsEnabled(LogLevel.Information) ? logger.BeginScope(exchange) : null;
        exchange.InScope = scope is not null;
        cluster.Budget.RequestStarted();
        using var deadline = route.Timeout is { } timeout ? new CancellationTokenSource(timeout) : null;
        try
        {
            var retry = cluster.Retry;
            var retryable = retry.Allows(request.Method);
            if (retryable && BodyReplay.HasBody(context))
            {
                // A body can be sent again only if it was kept: keep small ones, stream the rest without retries.
                retryable = retry.CanReplay(request.ContentLength);
                if (retryable && !await BodyReplay.TryBufferAsync(context, route, cluster, deadline?.Token ?? context.RequestAborted))
                    return;
            }
            var requestConfig = cluster.RequestConfigFor(request);
            var choice = new BackendChoice(cluster, exchange.AffinityKey);
            var attempts = 0;
            AttemptOutcome outcome = default;
            // Bounded even if circuits change under it: each pass marks a backend tried or makes an attempt.
            for (var pass = 0; pass <= cluster.Backends.Length + retry.MaxAttempts; pass++)
            {
                var now = Stopwatch.GetTimestamp();
                if (choice.Next(firstAttempt: attempts == 0, now) is not { } backend)
                {
                    if (attempts == 0)
                    {
                        await Problem.CircuitOpen.WriteAsync(context, route, cluster);
                        return;
                    }
                    break;
                }
                if (!backend.State.TryAcquire(now))
                    continue;
                var isRetry = attempts > 0;
                if (isRetry && !cluster.Budget.TryStartRetry())
                {
                    backend.State.ProbeAbandoned();
                    break;
                }
                attempts++;
                exchange.StartAttempt(backend, retryable && retry.AllowsAnotherAfter(attempts));
                var attemptStarted = Stopwatch.GetTimestamp();
                using var activity = ProxyHandler.Activities.StartActivity("proxy attempt", ActivityKind.Internal);
                try
                {
                    outcome = await attempt.SendAsync(context, exchange, backend, requestConfig, deadline);
                }
                finally
                {
                    if (isRetry)
                        cluster.Budget.RetryFinished();
                    var status = AttemptAccounting.Record(context, exchange, backend, outcome, Stopwatch.GetTimestamp() - attemptStarted);
                    if (activity is not null)
                    {
                        activity.SetTag("proxyplatform.route", route.Name);
                        activity.SetTag("proxyplatform.cluster", cluster.Name);
                        activity.SetTag("proxyplatform.backend", backend.Id);
                        activity.SetTag("http.response.status_code", status);
                    }
                }
                if (!outcome.Retry || !retryable || !retry.AllowsAnotherAfter(attempts) || context.RequestAborted.IsCancellationRequested)
                    break;
                // Nothing has reached the client: start the next attempt from a clean response and the body's start.
                context.Response.Clear();
                context.Features.Set<IForwarderErrorFeature>(null);
                BodyReplay.Rewind(request);
                if (logger.IsEnabled(LogLevel.Information))
                {
                    using var retryScope = exchange.InScope ? null : logger.BeginScope(exchange);
                    logger.LogInformation("Retrying {Method} {Path} of route {Route} after {Reason} from backend {Backend} (attempt {Attempt} of {MaxAttempts})",
                        request.Method, request.Path, route.Name, outcome.RetryReason, backend.Id, attempts + 1, retry.MaxAttempts);
                }
            }
            if (outcome.Answer is { } problem && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                context.Response.Clear();
                await problem.WriteAsync(context, route, cluster);
            }
        }
        finally
        {
            cluster.Budget.RequestFinished();
        }
    }
}
