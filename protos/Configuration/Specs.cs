using System.Text.Json.Serialization;

namespace ProxyPlatform.Configuration;

/// <summary>A tenant: who owns which host names, which data-plane pool serves it, and what it may store.</summary>
public sealed record TenantSpec
{
    public string? DisplayName { get; init; }
    /// <summary>The host names the tenant owns, exact or <c>*.</c> wildcards (<see cref="HostNames"/>): one owner per name, platform-wide.</summary>
    public IReadOnlyList<string> Hostnames { get; init; } = [];
    /// <summary>The data-plane pool that serves this tenant's routes.</summary>
    public string Pool { get; init; } = Pools.Default;
    /// <summary>What the tenant may store; a quota left out takes the platform's default.</summary>
    public TenantQuotas? Quotas { get; init; }
}

/// <summary>Limits on what one tenant may store. Null: the platform's default (<c>Tenancy:Quotas:*</c>).</summary>
public sealed record TenantQuotas
{
    public int? MaxRoutes { get; init; }
    public int? MaxClusters { get; init; }
    /// <summary>Backends over all of the tenant's clusters.</summary>
    public int? MaxBackends { get; init; }
    public int? MaxHostnames { get; init; }
    /// <summary>The largest request body a route of the tenant may allow.</summary>
    public long? MaxRequestBodyBytes { get; init; }

    /// <summary>These quotas, each one left out taken from <paramref name="defaults"/>.</summary>
    public TenantQuotas Over(TenantQuotas defaults) => new()
    {
        MaxRoutes = MaxRoutes ?? defaults.MaxRoutes,
        MaxClusters = MaxClusters ?? defaults.MaxClusters,
        MaxBackends = MaxBackends ?? defaults.MaxBackends,
        MaxHostnames = MaxHostnames ?? defaults.MaxHostnames,
        MaxRequestBodyBytes = MaxRequestBodyBytes ?? defaults.MaxRequestBodyBytes,
    };
}

/// <summary>A data-plane pool: a set of workers that serve the same tenants, and the limits on what they are asked to serve.</summary>
public sealed record PoolSpec
{
    public PoolLimits? Limits { get; init; }
    /// <summary>
    /// How many workers the pool should have (0 to <see cref="ConfigValidator.MaxReplicas"/>), kept so by
    /// the control plane's replica provider; unset: the pool is not managed, workers join and leave it by themselves.
    /// </summary>
    public int? Replicas { get; init; }
    /// <summary>Sets <see cref="Replicas"/> from the request rates the pool's workers report.</summary>
    public AutoscaleSpec? Autoscale { get; init; }
}

/// <summary>The bounds and target of a pool's autoscaler.</summary>
public sealed record AutoscaleSpec
{
    public int MinReplicas { get; init; } = 1;
    public int MaxReplicas { get; init; }
    /// <summary>The request rate one worker should carry; above it for a while, the pool grows.</summary>
    public double TargetRequestsPerSecondPerReplica { get; init; }
}

/// <summary>
/// What a pool's workers may be asked to serve, checked when a resource is written (so no worker is
/// sent what it cannot apply) and again by the workers (<see cref="PoolLimitsCheck"/>).
/// </summary>
public sealed record PoolLimits
{
    /// <summary>The largest request body a route of the pool may allow.</summary>
    public long? MaxRequestBodyBytes { get; init; }
    /// <summary>
    /// CIDRs the pool's backends (and so its health checks) may address; unset allows any address, set
    /// it is the whole allow-list, so a tenant cannot point the platform at internal addresses.
    /// </summary>
    public IReadOnlyList<string>? AllowedBackendNetworks { get; init; }
}

/// <summary>A tenant's backend cluster: how traffic is spread over its backends and guarded.</summary>
public sealed record ClusterSpec
{
    public string LoadBalancing { get; init; } = LoadBalancingPolicies.RoundRobin;
    public HealthCheckSpec? HealthCheck { get; init; }
    public RetrySpec? Retry { get; init; }
    public CircuitBreakerSpec? CircuitBreaker { get; init; }
    public TimeoutsSpec? Timeouts { get; init; }
    public SessionAffinitySpec? SessionAffinity { get; init; }
    public ConnectionsSpec? Connections { get; init; }
    /// <summary>How the cluster's <c>https://</c> backends are verified; unset: against the system's roots, by each address's host.</summary>
    public BackendTlsSpec? Tls { get; init; }
}

/// <summary>
/// TLS to a cluster's <c>https://</c> backends. Without it a backend's certificate is verified against the
/// system's roots for its address's host; with it, against <see cref="CaPem"/> and for <see cref="ServerName"/>.
/// </summary>
public sealed record BackendTlsSpec
{
    /// <summary>PEM CA certificates that are the only roots trusted for the backends (a private CA).</summary>
    public string? CaPem { get; init; }
    /// <summary>The name the backends' certificates must carry, when it is not their address's host (an IP address, say).</summary>
    public string? ServerName { get; init; }
    /// <summary>Accept any certificate: no protection against whoever sits between worker and backend. Explicit, logged when applied.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool InsecureSkipVerify { get; init; }
    /// <summary>
    /// The ID of one of the tenant's certificates that the worker presents to the backends that ask for a
    /// client certificate (mTLS to the origin); it must exist, hold a private key and be unexpired when written.
    /// </summary>
    public string? ClientCertificate { get; init; }
}

/// <summary>
/// The active probe every worker sends to each enabled backend of the cluster: <c>GET path</c> every
/// <see cref="IntervalSeconds"/>; an answer within <see cref="TimeoutSeconds"/> whose status is in
/// <see cref="ExpectedStatus"/> passes.
/// </summary>
public sealed record HealthCheckSpec
{
    public string Path { get; init; } = "/healthz";
    /// <summary>Seconds between two probes of one backend; fractions allowed, at least 0.2.</summary>
    public double IntervalSeconds { get; init; } = 5;
    public double TimeoutSeconds { get; init; } = 2;
    /// <summary>Probes passed in a row before a worker sees a failing backend as passing again.</summary>
    public int HealthyThreshold { get; init; } = 2;
    /// <summary>Probes failed in a row before a worker sees a backend as failing.</summary>
    public int UnhealthyThreshold { get; init; } = 2;
    /// <summary>The statuses that pass: <c>200-399</c>, <c>200</c>, or a comma-separated list of both (<c>200,204,300-302</c>).</summary>
    public string ExpectedStatus { get; init; } = "200-399";
    /// <summary>When every backend is Unhealthy, send to all of them rather than answer 503.</summary>
    public bool Panic { get; init; }
}

/// <summary>The control plane's verdicts on a cluster's backends: what every worker routes on.</summary>
public static class HealthVerdicts
{
    public const string Unknown = "Unknown";
    public const string Healthy = "Healthy";
    public const string Unhealthy = "Unhealthy";
}

/// <summary>
/// The verdicts on one cluster's backends, as the data plane receives them (resource kind
/// <c>BACKEND_HEALTH</c>, keyed like its cluster). A backend not listed is Unknown.
/// </summary>
public sealed record ClusterHealthSpec
{
    public IReadOnlyDictionary<string, BackendVerdictSpec> Backends { get; init; } = new Dictionary<string, BackendVerdictSpec>();
}

public sealed record BackendVerdictSpec
{
    /// <summary><see cref="HealthVerdicts.Healthy"/> or <see cref="HealthVerdicts.Unhealthy"/>.</summary>
    public string Verdict { get; init; } = HealthVerdicts.Unknown;
    public DateTimeOffset Since { get; init; }
}

/// <summary>
/// Retries of idempotent requests on another backend. Conditions: <c>connect-failure</c> (nothing
/// reached the backend), <c>reset</c> (the connection broke before any response, e.g. the backend
/// died mid-request), <c>timeout</c>, and statuses <c>502</c>, <c>503</c>, <c>504</c>.
/// </summary>
public sealed record RetrySpec
{
    public int MaxAttempts { get; init; } = 3;
    public IReadOnlyList<string> RetryOn { get; init; } = ["connect-failure", "502", "503", "504"];
    /// <summary>
    /// A request body up to this size is buffered so that it can be sent again; a larger one (or one of
    /// unknown length) is streamed and its request is not retried.
    /// </summary>
    public long MaxBufferedBodyBytes { get; init; } = 64 * 1024;
}

public sealed record CircuitBreakerSpec
{
    public int ConsecutiveFailures { get; init; } = 5;
    public int OpenSeconds { get; init; } = 10;
}

public sealed record TimeoutsSpec
{
    public double? ConnectSeconds { get; init; }
    public double? ResponseHeadersSeconds { get; init; }
    /// <summary>How long a streaming request or response (SSE, WebSocket, gRPC, a large body) may go without a byte either way.</summary>
    public double? IdleSeconds { get; init; }
}

/// <summary>Keeps a client on one backend: by a cookie the worker sets, or by a header the client sends back.</summary>
public sealed record SessionAffinitySpec
{
    /// <summary><c>cookie</c> or <c>header</c>.</summary>
    public string Mode { get; init; } = "cookie";
    /// <summary>The cookie or header that carries the affinity key.</summary>
    public string Name { get; init; } = ".pp-affinity";
}

/// <summary>The connection pool a worker keeps to each backend of a cluster.</summary>
public sealed record ConnectionsSpec
{
    /// <summary>Most connections open to one backend at once; requests beyond wait for one. Unset: no limit.</summary>
    public int? MaxPerBackend { get; init; }
    /// <summary>How long an idle pooled connection is kept open.</summary>
    public double IdleSeconds { get; init; } = 60;
}

/// <summary>One backend (destination) of a cluster.</summary>
public sealed record BackendSpec
{
    public string Address { get; init; } = "";
    public int Weight { get; init; } = 1;
    public bool Enabled { get; init; } = true;
}

/// <summary>A tenant's route: which requests it matches and the cluster it sends them to.</summary>
public sealed record RouteSpec
{
    public RouteMatchSpec Match { get; init; } = new();
    public string Cluster { get; init; } = "";
    public bool StripPrefix { get; init; }
    public bool PreserveHost { get; init; }
    public int Priority { get; init; }
    public double? TimeoutSeconds { get; init; }
    public long? MaxRequestBodyBytes { get; init; }
    public RateLimitSpec? RateLimit { get; init; }
    /// <summary>
    /// Answer the route's plain-HTTP requests with 308 to the same URL over https, never forwarding them
    /// (ACME's <c>/.well-known/acme-challenge/</c> excepted). Left out of the JSON when false, so routes
    /// that do not use it look to workers of an older version as they did.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool HttpsRedirect { get; init; }
    /// <summary>HTTP Strict Transport Security on the route's responses over https (RFC 6797); never sent over plain HTTP.</summary>
    public HstsSpec? Hsts { get; init; }
    /// <summary>
    /// The route may be fully shadowed by the tenant's other routes (it then never answers): a write that
    /// leaves it so is accepted instead of refused with 409 <c>route-shadowed</c>. Left out of the JSON when false.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool AllowShadowed { get; init; }
}

/// <summary>A route's <c>Strict-Transport-Security</c> header.</summary>
public sealed record HstsSpec
{
    /// <summary>How long browsers keep to https for the host (<c>max-age</c>): 0 (which tells them to forget it) to two years.</summary>
    public long MaxAgeSeconds { get; init; } = 31_536_000;
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool IncludeSubDomains { get; init; }

    public const long MaxMaxAgeSeconds = 2 * 365 * 86_400;

    /// <summary>The header's value, e.g. <c>max-age=31536000; includeSubDomains</c>.</summary>
    public string HeaderValue() => IncludeSubDomains
        ? $"max-age={MaxAgeSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}; includeSubDomains"
        : $"max-age={MaxAgeSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}

public sealed record RouteMatchSpec
{
    /// <summary>Host names (exact, or <c>*.example.com</c>); empty means the tenant's host names.</summary>
    public IReadOnlyList<string> Hosts { get; init; } = [];
    public string PathPrefix { get; init; } = "/";
    public IReadOnlyList<string> Methods { get; init; } = [];
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
}

public sealed record RateLimitSpec
{
    public double RequestsPerSecond { get; init; }
    public int Burst { get; init; }
    /// <summary><c>client-ip</c> or <c>header:Name</c>.</summary>
    public string Key { get; init; } = "client-ip";
}

/// <summary>
/// A cluster as the data plane receives it: its settings and its backends together, because a
/// worker needs both to build one YARP cluster.
/// </summary>
public sealed record ClusterDefinition
{
    public ClusterSpec Spec { get; init; } = new();
    public IReadOnlyDictionary<string, BackendSpec> Backends { get; init; } = new Dictionary<string, BackendSpec>();
}

public static class Pools
{
    public const string Default = "default";
}

public static class LoadBalancingPolicies
{
    public const string RoundRobin = "RoundRobin";
    public const string WeightedRoundRobin = "WeightedRoundRobin";
    public const string LeastRequests = "LeastRequests";
    public const string PowerOfTwoChoices = "PowerOfTwoChoices";
    public const string Random = "Random";

    public static readonly IReadOnlyList<string> All =
        [RoundRobin, WeightedRoundRobin, LeastRequests, PowerOfTwoChoices, Random];
}

/// <summary>The one JSON shape of the configuration model: REST bodies, grain state and the stream.</summary>
public static class ConfigJson
{
    /// <summary>Strict options for input: camelCase, unknown fields rejected so typos do not pass silently.</summary>
    public static readonly System.Text.Json.JsonSerializerOptions Options = Create();

    public static string Write<T>(T spec) => System.Text.Json.JsonSerializer.Serialize(spec, Options);

    /// <summary>A spec from JSON this platform wrote (a committed row); null only for the JSON <c>null</c>.</summary>
    public static T Read<T>(string json) => System.Text.Json.JsonSerializer.Deserialize<T>(json, Options)!;

    private static System.Text.Json.JsonSerializerOptions Create()
    {
        var options = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)
        {
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            AllowTrailingCommas = false,
            // A null where the model has no null (e.g. "address": null) is malformed input, not a default.
            RespectNullableAnnotations = true,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
