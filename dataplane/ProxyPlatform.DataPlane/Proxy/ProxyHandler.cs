using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.DataPlane.Pipeline;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyPlatform.DataPlane.Proxy;

/// <summary>
/// Every request on the proxy listener: matched against the routing table, checked against the
/// route's limits, sent to a backend the cluster's balancer chooses through YARP's forwarder, and
/// retried on another backend when the cluster's policy, the method and the retry budget allow.
/// Whatever the worker answers itself is problem+json naming the request, route and cluster.
/// Every request of a route is counted on the route's <see cref="TrafficCounters"/> under the status
/// the client got, and every attempt on its backend's; both were resolved when the route was compiled.
/// </summary>
public sealed class ProxyHandler(ConfigApplier applier, IHttpForwarder forwarder, ProxyTransformer transformer, ProxyOptions options, ILogger<ProxyHandler> logger, ILoggerFactory loggers)
{
    /// <summary>Traces of the request path; without a listener (no OTLP endpoint) starting an activity costs a flag check.</summary>
    public static readonly ActivitySource Activities = new("ProxyPlatform.DataPlane");

    /// <summary>YARP's forwarder logs a line per request at Information; only then is a per-request scope worth opening.</summary>
    private readonly ILogger _forwarderLog = loggers.CreateLogger("Yarp.ReverseProxy.Forwarder.HttpForwarder");

    public async Task InvokeAsync(HttpContext context)
    {
        var runtime = applier.Runtime;
        if (runtime is null)
        {
            context.Response.Headers.RetryAfter = "1";
            await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "no-configuration", "No configuration yet",
                "This worker has not received a configuration from the control plane yet; retry shortly.");
            return;
        }
        var request = context.Request;
        var route = runtime.Routes.Match(request);
        if (route is null)
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "no-route", "No route matches this request",
                $"No route of this worker matches {request.Method} {request.Host}{request.Path}.");
            return;
        }
        // Counts the request on its route however it ends, under the status the client got.
        using var counted = new CountedRequest(context, route.Traffic);
        if (LoopDetection.Check(request, options) is { } loop)
        {
            await Problems.WriteAsync(context, StatusCodes.Status508LoopDetected, "loop-detected", "The request is looping", loop, route);
            return;
        }
        if (route.MaxRequestBodyBytes is { } maxBody)
        {
            if (request.ContentLength > maxBody)
            {
                await BodyTooLargeAsync(context, route, maxBody);
                return;
            }
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
                limit.MaxRequestBodySize = maxBody;
        }
        var forwarded = ForwardedHeaders.Resolve(context, options.TrustedProxies);
        if (route.RateLimit is { } rateLimit)
        {
            var key = rateLimit.Header is { } header ? request.Headers[header].ToString() : forwarded.RealIp;
            if (!rateLimit.TryAcquire(key, out var retryAfter))
            {
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                await Problems.WriteAsync(context, StatusCodes.Status429TooManyRequests, "rate-limited", "Too many requests",
                    $"The route allows {rateLimit.RequestsPerSecond.ToString(CultureInfo.InvariantCulture)} requests per second (burst {rateLimit.Burst}) per client; retry later.", route);
                return;
            }
        }
        var cluster = route.Cluster.Current;
        if (cluster is null || cluster.Backends.Length == 0)
        {
            context.Response.Headers.RetryAfter = "1";
            await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "no-backend", "No backend is available",
                cluster is { AllUnhealthy: true }
                    ? "Every backend of the route's cluster failed its health checks (verdict Unhealthy); retry shortly."
                    : "The route's cluster has no enabled backend to send this request to.", route, cluster);
            return;
        }

        var exchange = new ProxyExchange(context.TraceIdentifier, route, cluster, forwarded, AffinityKeyOf(request, cluster));
        if (request.ContentLength is null && context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: true })
            request.Body = new CountingStream(request.Body);
        context.Features.Set(exchange);
        using var scope = _forwarderLog.IsEnabled(LogLevel.Information) ? logger.BeginScope(exchange) : null;
        exchange.InScope = scope is not null;
        cluster.Budget.RequestStarted();
        using var deadline = route.Timeout is { } timeout ? new CancellationTokenSource(timeout) : null;
        try
        {
            await ForwardAsync(context, exchange, deadline);
        }
        finally
        {
            cluster.Budget.RequestFinished();
        }
    }

    private async Task ForwardAsync(HttpContext context, ProxyExchange exchange, CancellationTokenSource? deadline)
    {
        var (route, cluster) = (exchange.Route, exchange.Cluster);
        var request = context.Request;
        var retryable = cluster.MaxAttempts > 1 && ClusterRuntime.IsIdempotent(request.Method);
        if (retryable && HasBody(context))
        {
            // A body can be sent again only if it was kept: keep small ones, stream the rest without retries.
            retryable = request.ContentLength is { } length && length <= cluster.MaxBufferedBodyBytes;
            if (retryable && !await TryBufferBodyAsync(context, exchange, deadline))
                return;
        }
        var requestConfig = request.Protocol == "HTTP/2" && request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true
            ? cluster.Grpc
            : cluster.Http;
        var backends = cluster.Backends;
        ulong tried = 0;
        var attempt = 0;
        Outcome outcome = default;
        // Bounded even if circuits change under it: each pass marks a backend tried or makes an attempt.
        for (var pass = 0; pass <= backends.Length + cluster.MaxAttempts; pass++)
        {
            var now = Stopwatch.GetTimestamp();
            var index = attempt == 0 ? cluster.FindByAffinity(exchange.AffinityKey) : -1;
            if (index >= 0 && !backends[index].State.IsSelectable(now))
                index = -1;
            if (index < 0)
                index = cluster.Balancer.Choose(backends, tried, now);
            // Every backend tried once: a further attempt may go to one of them again.
            if (index < 0 && tried != 0)
                index = cluster.Balancer.Choose(backends, 0, now);
            if (index < 0)
            {
                if (attempt == 0)
                {
                    await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "circuit-open", "No backend is available",
                        "Every backend of the route's cluster has failed repeatedly and is resting (circuit open); retry shortly.", route, cluster);
                    return;
                }
                break;
            }
            var backend = backends[index];
            if (index < 64)
                tried |= 1UL << index;
            if (!backend.State.TryAcquire(now))
                continue;

            var isRetry = attempt > 0;
            if (isRetry && !cluster.Budget.TryStartRetry())
            {
                backend.State.ProbeAbandoned();
                break;
            }
            attempt++;
            exchange.StartAttempt(backend, retryable && attempt < cluster.MaxAttempts);
            var attemptStarted = Stopwatch.GetTimestamp();
            using var activity = Activities.StartActivity("proxy attempt", ActivityKind.Internal);
            try
            {
                outcome = await AttemptAsync(context, exchange, backend, requestConfig, deadline);
            }
            finally
            {
                if (isRetry)
                    cluster.Budget.RetryFinished();
                var status = AttemptStatusOf(context, exchange, outcome);
                // The response body travels to the client only from the attempt whose answer was passed on.
                var bytesOut = exchange.RetryStatus == 0 && exchange.BackendStatus != 0 ? CountingStream.BytesOf(context.Response) : 0;
                backend.Traffic?.Record(status, CountingStream.BytesOf(request), bytesOut, Stopwatch.GetTimestamp() - attemptStarted);
                if (activity is not null)
                {
                    activity.SetTag("proxyplatform.route", route.Name);
                    activity.SetTag("proxyplatform.cluster", cluster.Name);
                    activity.SetTag("proxyplatform.backend", backend.Id);
                    activity.SetTag("http.response.status_code", status);
                }
            }
            if (!outcome.Retry || attempt >= cluster.MaxAttempts || !retryable || context.RequestAborted.IsCancellationRequested)
                break;
            // Nothing has reached the client: start the next attempt from a clean response and the body's start.
            context.Response.Clear();
            context.Features.Set<IForwarderErrorFeature>(null);
            if (request.Body.CanSeek)
                request.Body.Position = 0;
            if (logger.IsEnabled(LogLevel.Information))
            {
                using var retryScope = exchange.InScope ? null : logger.BeginScope(exchange);
                logger.LogInformation("Retrying {Method} {Path} of route {Route} after {Reason} from backend {Backend} (attempt {Attempt} of {MaxAttempts})",
                    request.Method, request.Path, route.Name, outcome.Reason, backend.Id, attempt + 1, cluster.MaxAttempts);
            }
        }
        if (outcome.Problem is { } problem && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            context.Response.Clear();
            await Problems.WriteAsync(context, problem.Status, problem.Type, problem.Title, problem.Detail, route, cluster);
        }
    }

    private async Task<Outcome> AttemptAsync(HttpContext context, ProxyExchange exchange, Backend backend, ForwarderRequestConfig requestConfig, CancellationTokenSource? deadline)
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
        var headersTimedOut = headersTimer?.IsCancellationRequested == true && deadline?.IsCancellationRequested != true;
        headersTimer?.Dispose();

        if (exchange.RetryStatus != 0)
        {
            Failed(exchange, backend, now, $"status {exchange.RetryStatus}");
            return new Outcome(true, $"status {exchange.RetryStatus}", new ProblemText(StatusCodes.Status502BadGateway, "backend-error", "The backend failed",
                $"The backend answered {exchange.RetryStatus} and no further attempt was allowed."));
        }
        if (error == ForwarderError.None)
        {
            if (exchange.BackendStatus >= 500)
                Failed(exchange, backend, now, $"status {exchange.BackendStatus}");
            else
                backend.State.Succeeded();
            return default;
        }

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        if (deadline?.IsCancellationRequested == true)
        {
            Failed(exchange, backend, now, "route time-out");
            return new Outcome(false, "time-out", new ProblemText(StatusCodes.Status504GatewayTimeout, "backend-timeout", "The backend did not answer in time",
                "The backend did not answer before the route's time-out."));
        }
        if (context.RequestAborted.IsCancellationRequested)
        {
            backend.State.ProbeAbandoned();
            return default;
        }
        if (Find<BadHttpRequestException>(exception) is { StatusCode: StatusCodes.Status413PayloadTooLarge })
        {
            backend.State.ProbeAbandoned();
            return new Outcome(false, "body too large", new ProblemText(StatusCodes.Status413PayloadTooLarge, "body-too-large", "The request body is too large",
                $"The request body is larger than the route allows ({exchange.Route.MaxRequestBodyBytes} bytes)."));
        }
        switch (error)
        {
            case ForwarderError.Request or ForwarderError.RequestCreation when !context.Response.HasStarted:
            {
                var connectFailure = IsConnectFailure(exception);
                Failed(exchange, backend, now, connectFailure ? "connect failure" : "transport failure");
                var retry = connectFailure ? exchange.Cluster.RetryOnConnectFailure : exchange.Cluster.RetryOnReset;
                return new Outcome(retry, connectFailure ? "connect failure" : "transport failure",
                    new ProblemText(StatusCodes.Status502BadGateway, "backend-unreachable", "The backend could not be reached",
                        "The request could not be forwarded to the backend, or the backend gave no valid answer."));
            }
            case ForwarderError.RequestTimedOut or ForwarderError.RequestCanceled when !context.Response.HasStarted:
            {
                // YARP's activity time-out, the connect time-out, or this worker's response-headers timer.
                var connectTimeout = Find<TimeoutException>(exception) is not null;
                Failed(exchange, backend, now, "time-out");
                var retry = exchange.Cluster.RetryOnTimeout || (connectTimeout && exchange.Cluster.RetryOnConnectFailure);
                return new Outcome(retry, connectTimeout ? "connect time-out" : "time-out",
                    new ProblemText(StatusCodes.Status504GatewayTimeout, "backend-timeout", "The backend did not answer in time",
                        headersTimedOut ? "The backend did not send its response headers before the cluster's time-out." : "The backend did not answer before the cluster's time-out."));
            }
            case ForwarderError.ResponseHeaders:
                Failed(exchange, backend, now, "invalid response");
                return new Outcome(false, "invalid response", new ProblemText(StatusCodes.Status502BadGateway, "backend-unreachable", "The backend could not be reached",
                    "The backend gave no valid answer."));
            case ForwarderError.ResponseBodyDestination when !context.Response.HasStarted:
                // The backend's connection broke after its headers, before a byte reached the client
                // (a backend killed mid-response): as safe to retry as a reset before the headers.
                Failed(exchange, backend, now, "reset");
                return new Outcome(exchange.Cluster.RetryOnReset, "reset", new ProblemText(StatusCodes.Status502BadGateway, "backend-unreachable",
                    "The backend could not be reached", "The backend's connection broke before its response was complete."));
            case ForwarderError.ResponseBodyDestination or ForwarderError.UpgradeResponseDestination or ForwarderError.UpgradeRequestDestination:
                Failed(exchange, backend, now, error.ToString());
                return default;
            default:
                // The client's side of a body or stream failed, or the response had started: nothing to answer.
                backend.State.ProbeAbandoned();
                return context.Response.HasStarted ? default : new Outcome(false, error.ToString(),
                    new ProblemText(StatusCodes.Status502BadGateway, "backend-error", "The request could not be forwarded",
                        $"Forwarding to the backend failed ({error})."));
        }
    }

    private void Failed(ProxyExchange exchange, Backend backend, long now, string reason)
    {
        if (backend.State.Failed(exchange.Cluster.Breaker, now))
        {
            using var scope = exchange.InScope ? null : logger.BeginScope(exchange);
            logger.LogWarning("Circuit of backend {Backend} of cluster {Cluster} opened after {Reason}", backend.Id, exchange.Cluster.Name, reason);
        }
    }

    /// <summary>What an attempt came to: the backend's status, or the worker's own 502/504 when the backend gave none.</summary>
    private static int AttemptStatusOf(HttpContext context, ProxyExchange exchange, Outcome outcome)
    {
        if (exchange.RetryStatus != 0)
            return exchange.RetryStatus;
        if (exchange.BackendStatus != 0)
            return exchange.BackendStatus;
        if (outcome.Problem is { } problem)
            return problem.Status;
        return context.RequestAborted.IsCancellationRequested ? 499 : StatusCodes.Status502BadGateway;
    }

    /// <summary>
    /// Counts a request on its route when disposed, however the request ended. A struct in a
    /// <c>using</c>: it lives in the request's state machine, so it costs no allocation.
    /// </summary>
    private readonly struct CountedRequest(HttpContext context, TrafficCounters? traffic) : IDisposable
    {
        private readonly long _started = Stopwatch.GetTimestamp();

        public void Dispose()
        {
            if (traffic is null)
                return;
            var response = context.Response;
            // A client that went away before an answer started counts as 499, as nginx logs it.
            var status = !response.HasStarted && context.RequestAborted.IsCancellationRequested ? 499 : response.StatusCode;
            // Bodies without a Content-Length were counted as they went through, if the request got that far.
            traffic.Record(status, CountingStream.BytesOf(context.Request), CountingStream.BytesOf(response), Stopwatch.GetTimestamp() - _started);
        }
    }

    private async Task<bool> TryBufferBodyAsync(HttpContext context, ProxyExchange exchange, CancellationTokenSource? deadline)
    {
        var request = context.Request;
        var length = request.ContentLength ?? 0;
        request.EnableBuffering(bufferThreshold: (int)Math.Min(length, 64 * 1024), bufferLimit: length);
        try
        {
            await request.Body.DrainAsync(deadline?.Token ?? context.RequestAborted);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await BodyTooLargeAsync(context, exchange.Route, exchange.Route.MaxRequestBodyBytes ?? length);
            return false;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or BadHttpRequestException)
        {
            if (!context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "bad-request", "The request body could not be read",
                    "The request body ended early or could not be read.", exchange.Route, exchange.Cluster);
            return false;
        }
        request.Body.Position = 0;
        return true;
    }

    private static Task BodyTooLargeAsync(HttpContext context, CompiledRoute route, long max) =>
        Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "body-too-large", "The request body is too large",
            $"The request body is larger than the route allows ({max} bytes).", route);

    private static bool HasBody(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentLength is { } length)
            return length > 0;
        return context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? false;
    }

    private static string? AffinityKeyOf(HttpRequest request, ClusterRuntime cluster) => cluster.Affinity switch
    {
        null => null,
        { Mode: "header" } affinity => request.Headers[affinity.Name].ToString() is { Length: > 0 } value ? value : null,
        { } affinity => request.Cookies[affinity.Name],
    };

    private static bool IsConnectFailure(Exception? exception) =>
        exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError }
        || Find<SocketException>(exception) is { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostNotFound };

    private static T? Find<T>(Exception? exception) where T : Exception
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is T found)
                return found;
            if (current is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    if (Find<T>(inner) is { } nested)
                        return nested;
                }
            }
        }
        return null;
    }

    private readonly record struct ProblemText(int Status, string Type, string Title, string Detail);

    /// <summary>What an attempt came to: whether another attempt may help, and what to answer if none follows.</summary>
    private readonly record struct Outcome(bool Retry, string? Reason, ProblemText? Problem);
}
