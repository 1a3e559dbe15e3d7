namespace ProxyPlatform.Routing;

/// <summary>
/// A request to explain (<c>POST /v1/tenants/{t}/explain</c>): what a client would send. The path is
/// written as on the wire (percent-encoded where the client would encode it), without a query.
/// </summary>
public sealed record ExplainQuery
{
    public string Method { get; init; } = "";
    /// <summary>The Host header's name (a <c>:port</c> is ignored).</summary>
    public string Host { get; init; } = "";
    public string Path { get; init; } = "";
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
}

/// <summary>How the request ends before it reaches a backend, or that it would reach one.</summary>
public static class ExplainOutcomes
{
    /// <summary>A route takes it.</summary>
    public const string Matched = "matched";
    /// <summary>The host is not one of the tenant's (unknown, or another tenant's: which, is never said).</summary>
    public const string NotThisTenantsHost = "not-this-tenants-host";
    /// <summary>The tenant's host, but none of its routes matches.</summary>
    public const string NoRoute = "no-route";
    /// <summary>The worker refuses the path before matching (400 <c>bad-path</c>).</summary>
    public const string BadPath = "bad-path";
}

/// <summary>Why a route that was considered does not take the request.</summary>
public static class LossReasons
{
    public const string Host = "host";
    public const string Path = "path";
    public const string Method = "method";
    public const string Header = "header";
    /// <summary>Both match; the winner's host is more specific (an exact name before wildcards, a longer wildcard first).</summary>
    public const string LessSpecificHost = "less-specific-host";
    /// <summary>Both match; the winner's path prefix is longer.</summary>
    public const string LessSpecificPath = "less-specific-path";
    /// <summary>Both match on host and prefix; the winner has more method and header constraints.</summary>
    public const string LessSpecific = "less-specific";
    public const string LowerPriority = "lower-priority";
    /// <summary>Equal in everything else: routes are ordered by ID.</summary>
    public const string IdOrder = "id-order";
}

/// <summary>
/// The answer of explain, from the control plane (its committed configuration) or from a worker (its
/// applied configuration, its balancer and its backends' live state): one shape for both.
/// </summary>
public sealed record RequestExplanation
{
    public string Tenant { get; init; } = "";
    /// <summary><c>control-plane</c>, or <c>worker</c>.</summary>
    public string Source { get; init; } = "";
    /// <summary>The worker that answered; null from the control plane.</summary>
    public string? Worker { get; init; }
    /// <summary>The revision of the configuration the answer comes from: the worker's applied revision, or the tenant's latest.</summary>
    public long Revision { get; init; }
    public ExplainedRequest Request { get; init; } = new();
    /// <summary>One of <see cref="ExplainOutcomes"/>.</summary>
    public string Outcome { get; init; } = "";
    /// <summary>Why, in a sentence.</summary>
    public string Reason { get; init; } = "";
    /// <summary>The route that takes the request, or null.</summary>
    public string? Route { get; init; }
    /// <summary>Every route of the tenant that was considered, the one that takes the request first.</summary>
    public IReadOnlyList<ConsideredRoute> Routes { get; init; } = [];
    /// <summary>How many more routes were considered than are listed.</summary>
    public int RoutesOmitted { get; init; }
    /// <summary>The path the backend receives (normalised, and without the prefix when the route strips it).</summary>
    public string? BackendPath { get; init; }
    public ExplainedCluster? Cluster { get; init; }
    public ExplainedLimits? Limits { get; init; }
}

/// <summary>The request as it was matched: host normalised, path decoded and normalised.</summary>
public sealed record ExplainedRequest
{
    public string Method { get; init; } = "";
    public string Host { get; init; } = "";
    public string Path { get; init; } = "";
    public string? NormalizedPath { get; init; }
}

public sealed record ConsideredRoute
{
    public string Route { get; init; } = "";
    /// <summary>True for the route that takes the request.</summary>
    public bool Selected { get; init; }
    /// <summary>One of <see cref="LossReasons"/>; null for the selected route.</summary>
    public string? LostOn { get; init; }
    public string Reason { get; init; } = "";
    public IReadOnlyList<string> Hosts { get; init; } = [];
    public string PathPrefix { get; init; } = "/";
    public IReadOnlyList<string> Methods { get; init; } = [];
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
    public int Priority { get; init; }
}

public sealed record ExplainedCluster
{
    public string Id { get; init; } = "";
    /// <summary>False when the route names a cluster that is not there (or that the worker does not serve).</summary>
    public bool Exists { get; init; }
    public string LoadBalancing { get; init; } = "";
    public IReadOnlyList<ExplainedBackend> Backends { get; init; } = [];
    public NextBackend? Next { get; init; }
}

public sealed record ExplainedBackend
{
    public string Id { get; init; } = "";
    public string Address { get; init; } = "";
    public int Weight { get; init; }
    public bool Enabled { get; init; }
    /// <summary>The control plane's verdict: Healthy, Unhealthy or Unknown.</summary>
    public string Verdict { get; init; } = "";
    /// <summary>True when requests may go to it: enabled, weight above 0, not judged Unhealthy (unless the cluster panics).</summary>
    public bool Routable { get; init; }
    /// <summary>The worker's circuit breaker: closed, open or half-open; null from the control plane.</summary>
    public string? Circuit { get; init; }
    /// <summary>The worker's requests in flight to it; null from the control plane.</summary>
    public int? InFlight { get; init; }
}

/// <summary>The backend the balancer picks next.</summary>
public sealed record NextBackend
{
    /// <summary>The backend's ID; null when none can be picked, or when the policy picks at random.</summary>
    public string? Backend { get; init; }
    /// <summary>
    /// True when this is a prediction rather than the balancer's own state: always from the control plane
    /// (each worker keeps its own position), and on a worker for random policies or under concurrent traffic.
    /// </summary>
    public bool Prediction { get; init; }
    public string Basis { get; init; } = "";
}

public sealed record ExplainedLimits
{
    public BodyLimit MaxRequestBodyBytes { get; init; } = new();
    public RateLimitSpecView? RateLimit { get; init; }
    /// <summary>The whole request's time limit (the route's <c>timeoutSeconds</c>); null: none.</summary>
    public double? TimeoutSeconds { get; init; }
    public double? ConnectTimeoutSeconds { get; init; }
    public double? ResponseHeadersTimeoutSeconds { get; init; }
    public double? IdleTimeoutSeconds { get; init; }
}

/// <summary>
/// The body limit: the route's own, and the caps it was checked against when written (the tenant's
/// quota, the pool's limit). A route without one is held to the worker's ceiling
/// (<c>Proxy:MaxRequestBodyBytes</c>, else Kestrel's default).
/// </summary>
public sealed record BodyLimit
{
    public long? Route { get; init; }
    public long? TenantQuota { get; init; }
    public long? PoolLimit { get; init; }
    /// <summary>The limit a request meets; null when only the worker knows it (its own ceiling).</summary>
    public long? Effective { get; init; }
    public string Basis { get; init; } = "";
}

public sealed record RateLimitSpecView
{
    public double RequestsPerSecond { get; init; }
    public int Burst { get; init; }
    public string Key { get; init; } = "";
}
