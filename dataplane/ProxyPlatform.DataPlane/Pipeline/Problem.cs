using System.Globalization;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.RateLimiting;
using ProxyPlatform.DataPlane.Routing;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// One answer the worker writes itself instead of a backend's: its status, stable type, title and
/// detail, and the <c>Retry-After</c> it carries, if any. A value, so a step can say what to answer
/// without writing it; <see cref="WriteAsync"/> writes it through <see cref="Problems"/>.
/// The factories below are every such answer of the request path.
/// </summary>
public readonly record struct Problem(int Status, string Type, string Title, string Detail, string? RetryAfter = null)
{
    public static Problem NoConfiguration { get; } = new(StatusCodes.Status503ServiceUnavailable, "no-configuration", "No configuration yet",
        "This worker has not received a configuration from the control plane yet; retry shortly.", RetryAfter: "1");

    public static Problem CircuitOpen { get; } = new(StatusCodes.Status503ServiceUnavailable, "circuit-open", "No backend is available",
        "Every backend of the route's cluster has failed repeatedly and is resting (circuit open); retry shortly.");

    public static Problem NoRoute(HttpRequest request) => new(StatusCodes.Status404NotFound, "no-route", "No route matches this request",
        $"No route of this worker matches {request.Method} {request.Host}{request.Path}.");

    /// <summary>404 <c>unknown-host</c>: no tenant claims the request's host, so no route can match it.</summary>
    public static Problem UnknownHost(HttpRequest request) => new(StatusCodes.Status404NotFound, "unknown-host", "No tenant serves this host",
        $"No tenant of this worker claims the host '{request.Host.Host}'.");

    /// <summary>421 <c>misdirected-request</c>: the Host belongs to another tenant than the TLS connection's server name (<see cref="RouteMatch"/>).</summary>
    public static Problem Misdirected(HttpRequest request, string serverName) => new(StatusCodes.Status421MisdirectedRequest, "misdirected-request", "The request was sent on another host's connection",
        $"This TLS connection was opened for '{serverName}', whose tenant does not serve the host '{request.Host.Host}': open a connection for that host.");

    /// <summary>400 <c>bad-path</c>: a path that would mean something else to a backend than to the route table (<see cref="PathNormalization"/>).</summary>
    public static Problem BadPath(string detail) => new(StatusCodes.Status400BadRequest, "bad-path", "The request path is refused", detail);

    public static Problem LoopDetected(string reason) => new(StatusCodes.Status508LoopDetected, "loop-detected", "The request is looping", reason);

    public static Problem BodyTooLarge(long? max) => new(StatusCodes.Status413PayloadTooLarge, "body-too-large", "The request body is too large",
        $"The request body is larger than the route allows ({max} bytes).");

    public static Problem RateLimited(TokenBucketLimiter limit, TimeSpan retryAfter) => new(StatusCodes.Status429TooManyRequests, "rate-limited", "Too many requests",
        $"The route allows {limit.RequestsPerSecond.ToString(CultureInfo.InvariantCulture)} requests per second (burst {limit.Burst}) per client; retry later.",
        RetryAfter: Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture));

    public static Problem NoBackend(ClusterRuntime? cluster) => new(StatusCodes.Status503ServiceUnavailable, "no-backend", "No backend is available",
        cluster is { AllUnhealthy: true }
            ? "Every backend of the route's cluster failed its health checks (verdict Unhealthy); retry shortly."
            : "The route's cluster has no enabled backend to send this request to.",
        RetryAfter: "1");

    public static Problem UnreadableBody { get; } = new(StatusCodes.Status400BadRequest, "bad-request", "The request body could not be read",
        "The request body ended early or could not be read.");

    /// <summary>502 <c>backend-unreachable</c>: no connection, a broken one, or no valid answer.</summary>
    public static Problem BackendUnreachable(string detail) => new(StatusCodes.Status502BadGateway, "backend-unreachable", "The backend could not be reached", detail);

    /// <summary>502 <c>backend-not-allowed</c>: the backend's addresses lie outside the networks its pool allows (<c>limits.allowedBackendNetworks</c>).</summary>
    public static Problem BackendNotAllowed { get; } = new(StatusCodes.Status502BadGateway, "backend-not-allowed", "The backend may not be addressed",
        "The backend's host name resolves only to addresses outside the networks this pool's backends may address (limits.allowedBackendNetworks); the worker did not connect.");

    /// <summary>504 <c>backend-timeout</c>: the route's or the cluster's time-out ran out first.</summary>
    public static Problem BackendTls(string detail) => new(StatusCodes.Status502BadGateway, "backend-tls", "The backend's TLS certificate was refused", detail);

    public static Problem BackendTimeout(string detail) => new(StatusCodes.Status504GatewayTimeout, "backend-timeout", "The backend did not answer in time", detail);

    /// <summary>502 <c>backend-error</c>: a status the cluster retries, with no attempt left.</summary>
    public static Problem BackendFailed(int status) => new(StatusCodes.Status502BadGateway, "backend-error", "The backend failed",
        $"The backend answered {status} and no further attempt was allowed.");

    /// <summary>502 <c>backend-error</c>: any other failure of YARP's forwarder before the answer started.</summary>
    public static Problem ForwardingFailed(string error) => new(StatusCodes.Status502BadGateway, "backend-error", "The request could not be forwarded",
        $"Forwarding to the backend failed ({error}).");

    /// <summary>Writes this answer, naming <paramref name="route"/> and its cluster when the request matched one.</summary>
    public Task WriteAsync(HttpContext context, CompiledRoute? route = null, ClusterRuntime? cluster = null)
    {
        if (RetryAfter is not null)
            context.Response.Headers.RetryAfter = RetryAfter;
        return Problems.WriteAsync(context, Status, Type, Title, Detail, route, cluster);
    }
}
