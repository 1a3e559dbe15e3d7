using ProxyPlatform.Http;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.DataPlane.Hosting;

/// <summary>The worker's settings, read from DESIGN.md's configuration keys.</summary>
public sealed record DataPlaneOptions
{
    private static readonly Uri DefaultControlPlaneUrl = new("http://127.0.0.1:5101");
    private static readonly Uri DefaultProxyUrl = new("http://0.0.0.0:8080");
    private static readonly Uri DefaultOpsUrl = new("http://127.0.0.1:9090");
    private static readonly Uri DefaultHttpsUrl = new("https://0.0.0.0:8443");

    /// <summary>The control plane's gRPC addresses (<c>ControlPlane:Url</c>, comma-separated), tried in turn.</summary>
    public IReadOnlyList<Uri> ControlPlaneUrls { get; init; } = [DefaultControlPlaneUrl];
    /// <summary>
    /// The worker's credential, sent as <c>authorization: Bearer …</c> on the configuration stream:
    /// a pool token, or the bootstrap worker token (<c>DataPlane:Token</c>; <c>Auth:DataPlaneToken</c> is still read).
    /// </summary>
    public string? DataPlaneToken { get; init; }
    /// <summary>
    /// A PEM file of the CA that signed an <c>https://</c> control plane's certificate (<c>ControlPlane:CaFile</c>),
    /// for a private CA; unset, the system's roots verify it.
    /// </summary>
    public string? ControlPlaneCaFile { get; init; }
    /// <summary>How often the worker tells the control plane which revision it serves (<c>ControlPlane:HeartbeatSeconds</c>).</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How often the worker reports its traffic counters on the stream (<c>DataPlane:MetricsIntervalSeconds</c>).</summary>
    public TimeSpan MetricsInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Stable worker identity (<c>DataPlane:Id</c>); defaults to the machine name and the proxy port, and is required when that port is 0.</summary>
    public required string WorkerId { get; init; }
    public string Pool { get; init; } = Pools.Default;
    /// <summary>Where the last-known-good configuration is kept (<c>DataPlane:DataDir</c>); defaults to <c>./data/&lt;id&gt;</c>.</summary>
    public required string DataDir { get; init; }

    /// <summary>The proxy listener (<c>Proxy:Url</c>); port 0 lets the operating system choose, and the ready line says which.</summary>
    public Uri ProxyUrl { get; init; } = DefaultProxyUrl;
    /// <summary>The ops listener (<c>Ops:Url</c>); port 0 as for <see cref="ProxyUrl"/>.</summary>
    public Uri OpsUrl { get; init; } = DefaultOpsUrl;
    /// <summary>
    /// An optional HTTP/2-only cleartext (h2c, prior knowledge) proxy listener (<c>Proxy:H2cUrl</c>) for
    /// gRPC clients: without TLS, Kestrel serves <see cref="ProxyUrl"/> as HTTP/1.1 only.
    /// </summary>
    public Uri? H2cUrl { get; init; }
    /// <summary>
    /// The TLS proxy listener (<c>Proxy:HttpsUrl</c>, an <c>https://</c> URL; <c>off</c> for none): each
    /// connection gets the certificate of the tenant owning its server name (SNI), with h2 and http/1.1
    /// offered over ALPN. Port 0 as for <see cref="ProxyUrl"/>.
    /// </summary>
    public Uri? HttpsUrl { get; init; } = DefaultHttpsUrl;
    /// <summary>
    /// The port an https redirect (a route's <c>httpsRedirect</c>) sends clients to (<c>Proxy:HttpsRedirectPort</c>):
    /// where clients reach the TLS listener, which behind a load balancer is not its own port. Unset: 443.
    /// </summary>
    public int? HttpsRedirectPort { get; init; }
    /// <summary>
    /// This worker's ceiling on request bodies (<c>Proxy:MaxRequestBodyBytes</c>): Kestrel's limit, and
    /// a route asking for more is rejected. Unset keeps Kestrel's default and accepts any route limit.
    /// </summary>
    public long? MaxRequestBodyBytes { get; init; }
    /// <summary>
    /// How long a client may take to send a request's headers (<c>Proxy:RequestHeadersTimeoutSeconds</c>,
    /// default 15): a client trickling them in (slowloris) is cut off then, whatever it still sends.
    /// </summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>The most header fields and header bytes a request may carry (<c>Proxy:MaxRequestHeaderCount</c>, <c>Proxy:MaxRequestHeadersBytes</c>): past them, 431.</summary>
    public int MaxRequestHeaderCount { get; init; } = 100;
    public int MaxRequestHeadersBytes { get; init; } = 32 * 1024;
    /// <summary>
    /// The local address outbound connections to backends (proxied requests and health probes) are
    /// bound to before connecting (<c>Proxy:OutboundBindAddress</c>), like nginx's <c>proxy_bind</c>.
    /// Unset: the operating system chooses.
    /// </summary>
    public System.Net.IPAddress? OutboundBindAddress { get; init; }
    /// <summary>
    /// The most keys one route's rate limiter tracks (<c>Proxy:RateLimitMaxKeys</c>, default 100,000):
    /// a <c>header:</c> key is chosen by clients, so its table is capped and evicts (see <see cref="RateLimiting.TokenBucketLimiter"/>).
    /// </summary>
    public int RateLimitMaxKeys { get; init; } = RateLimiting.TokenBucketLimiter.DefaultMaxKeys;
    /// <summary>
    /// How long a worker told to drain keeps serving with <c>/readyz</c> at 503, so that a load balancer
    /// notices before it stops (<c>DataPlane:DrainSeconds</c>, default 5); in-flight requests then finish.
    /// </summary>
    public TimeSpan DrainTime { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// The host the worker reports in its proxy and ops URLs when a listener binds an unspecified address
    /// such as 0.0.0.0 (<c>DataPlane:AdvertisedHost</c>; default the machine's name).
    /// </summary>
    public string? AdvertisedHost { get; init; }

    public static DataPlaneOptions From(IConfiguration configuration)
    {
        var proxyUrl = ListenerAddress.Parse(configuration, "Proxy:Url", DefaultProxyUrl);
        var opsUrl = ListenerAddress.Parse(configuration, "Ops:Url", DefaultOpsUrl);
        // The ops endpoints are told from the proxy by the port a request arrived on. Port 0 (any
        // free port) never collides: each such listener gets a port of its own.
        if (proxyUrl.Port != 0 && proxyUrl.Port == opsUrl.Port)
            throw new InvalidOperationException($"Proxy:Url ({proxyUrl}) and Ops:Url ({opsUrl}) must use different ports.");

        var h2cUrl = Blank(configuration["Proxy:H2cUrl"]) is null ? null : ListenerAddress.Parse(configuration, "Proxy:H2cUrl", DefaultProxyUrl);
        if (h2cUrl is { Port: not 0 } && (h2cUrl.Port == proxyUrl.Port || h2cUrl.Port == opsUrl.Port))
            throw new InvalidOperationException($"Proxy:H2cUrl ({h2cUrl}) must use a port of its own.");

        var httpsUrl = HttpsFrom(configuration);
        if (httpsUrl is { Port: not 0 } && (httpsUrl.Port == proxyUrl.Port || httpsUrl.Port == opsUrl.Port || httpsUrl.Port == h2cUrl?.Port))
            throw new InvalidOperationException($"Proxy:HttpsUrl ({httpsUrl}) must use a port of its own.");

        var redirectPort = configuration.GetValue<int?>("Proxy:HttpsRedirectPort");
        if (redirectPort is < 1 or > 65535)
            throw new InvalidOperationException($"Proxy:HttpsRedirectPort must be a port from 1 to 65535; got {redirectPort}.");

        var workerId = Blank(configuration["DataPlane:Id"]) ?? (proxyUrl.Port != 0
            ? $"{Environment.MachineName}-{proxyUrl.Port}"
            // An identity must be known before the listener is bound, and must survive a restart on another port.
            : throw new InvalidOperationException($"DataPlane:Id is required when Proxy:Url has port 0 ({proxyUrl}): the default identity is the host name and the proxy port."));
        if (workerId.Length > 253 || workerId.Contains('/', StringComparison.Ordinal))
            throw new InvalidOperationException($"DataPlane:Id must be at most 253 characters without '/'; got '{workerId}'.");
        var pool = Blank(configuration["DataPlane:Pool"]) ?? Pools.Default;
        if (!ConfigValidator.IsValidId(pool))
            throw new InvalidOperationException($"DataPlane:Pool '{pool}' is not a valid pool ID (a-z, 0-9 and '-').");

        var heartbeat = configuration.GetValue("ControlPlane:HeartbeatSeconds", 10.0);
        if (heartbeat <= 0)
            throw new InvalidOperationException($"ControlPlane:HeartbeatSeconds must be more than 0; got {heartbeat}.");
        var metrics = configuration.GetValue("DataPlane:MetricsIntervalSeconds", 5.0);
        if (metrics is <= 0 or > 3600)
            throw new InvalidOperationException($"DataPlane:MetricsIntervalSeconds must be more than 0 and at most 3600; got {metrics}.");
        var maxBody = configuration.GetValue<long?>("Proxy:MaxRequestBodyBytes");
        if (maxBody is <= 0)
            throw new InvalidOperationException($"Proxy:MaxRequestBodyBytes must be more than 0; got {maxBody}.");
        var headersTimeout = configuration.GetValue("Proxy:RequestHeadersTimeoutSeconds", 15.0);
        if (!(headersTimeout is >= 0.5 and <= 300))
            throw new InvalidOperationException($"Proxy:RequestHeadersTimeoutSeconds must be from 0.5 to 300; got {headersTimeout}.");
        var headerCount = configuration.GetValue("Proxy:MaxRequestHeaderCount", 100);
        if (headerCount is < 16 or > 1000)
            throw new InvalidOperationException($"Proxy:MaxRequestHeaderCount must be from 16 to 1000; got {headerCount}.");
        var headerBytes = configuration.GetValue("Proxy:MaxRequestHeadersBytes", 32 * 1024);
        if (headerBytes is < 4096 or > 1024 * 1024)
            throw new InvalidOperationException($"Proxy:MaxRequestHeadersBytes must be from 4096 to 1048576; got {headerBytes}.");
        var rateLimitKeys = configuration.GetValue("Proxy:RateLimitMaxKeys", RateLimiting.TokenBucketLimiter.DefaultMaxKeys);
        if (rateLimitKeys < 1)
            throw new InvalidOperationException($"Proxy:RateLimitMaxKeys must be at least 1; got {rateLimitKeys}.");
        var drainSeconds = configuration.GetValue("DataPlane:DrainSeconds", 5.0);
        if (!(drainSeconds is >= 0 and <= 3600))
            throw new InvalidOperationException($"DataPlane:DrainSeconds must be from 0 to 3600; got {drainSeconds}.");
        var advertised = Blank(configuration["DataPlane:AdvertisedHost"]);
        if (advertised is not null && Uri.CheckHostName(advertised) == UriHostNameType.Unknown)
            throw new InvalidOperationException($"DataPlane:AdvertisedHost must be a host name or an IP address; got '{advertised}'.");
        System.Net.IPAddress? bind = null;
        if (Blank(configuration["Proxy:OutboundBindAddress"]) is { } bindText && !System.Net.IPAddress.TryParse(bindText, out bind))
            throw new InvalidOperationException($"Proxy:OutboundBindAddress must be an IP address of this host, e.g. 10.0.0.7; got '{bindText}'.");

        return new DataPlaneOptions
        {
            ControlPlaneUrls = ControlPlaneUrlsFrom(configuration["ControlPlane:Url"]),
            DataPlaneToken = Blank(configuration["DataPlane:Token"]) ?? Blank(configuration["Auth:DataPlaneToken"]),
            ControlPlaneCaFile = CaFile(configuration["ControlPlane:CaFile"]),
            HeartbeatInterval = TimeSpan.FromSeconds(heartbeat),
            MetricsInterval = TimeSpan.FromSeconds(metrics),
            WorkerId = workerId,
            Pool = pool,
            DataDir = Path.GetFullPath(Blank(configuration["DataPlane:DataDir"]) ?? Path.Combine("data", workerId)),
            ProxyUrl = proxyUrl,
            OpsUrl = opsUrl,
            H2cUrl = h2cUrl,
            HttpsUrl = httpsUrl,
            HttpsRedirectPort = redirectPort,
            MaxRequestBodyBytes = maxBody,
            RequestHeadersTimeout = TimeSpan.FromSeconds(headersTimeout),
            MaxRequestHeaderCount = headerCount,
            MaxRequestHeadersBytes = headerBytes,
            OutboundBindAddress = bind,
            RateLimitMaxKeys = rateLimitKeys,
            DrainTime = TimeSpan.FromSeconds(drainSeconds),
            AdvertisedHost = advertised,
        };
    }

    private static IReadOnlyList<Uri> ControlPlaneUrlsFrom(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
            return [DefaultControlPlaneUrl];
        var urls = new List<Uri>();
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                throw new InvalidOperationException($"ControlPlane:Url must be http:// URLs separated by commas, e.g. {DefaultControlPlaneUrl}; got '{part}'.");
            urls.Add(uri);
        }
        return urls.Count > 0 ? urls : throw new InvalidOperationException("ControlPlane:Url names no URL.");
    }

    private static Uri? HttpsFrom(IConfiguration configuration)
    {
        if (string.Equals(Blank(configuration["Proxy:HttpsUrl"]), "off", StringComparison.OrdinalIgnoreCase))
            return null;
        var url = ListenerAddress.Parse(configuration, "Proxy:HttpsUrl", DefaultHttpsUrl, https: true);
        return url.Scheme == Uri.UriSchemeHttps
            ? url
            : throw new InvalidOperationException($"Proxy:HttpsUrl must be an https:// URL (or off), e.g. {DefaultHttpsUrl}; got '{url}'.");
    }

    private static string? CaFile(string? value)
    {
        if (Blank(value) is not { } path)
            return null;
        var full = Path.GetFullPath(path);
        return File.Exists(full) ? full : throw new InvalidOperationException($"ControlPlane:CaFile names '{full}', which does not exist.");
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
