using System.Diagnostics;
using System.Net;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Metrics;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyPlatform.DataPlane.Proxy;

/// <summary>
/// A cluster as the worker serves it: its enabled backends, how one is chosen, how failures are
/// retried and broken, and the connection pool its requests travel on.
/// </summary>
public sealed class ClusterRuntime
{
    /// <summary>The methods a retry may repeat: safe or idempotent by RFC 9110 (POST and PATCH never).</summary>
    private static readonly HashSet<string> IdempotentMethods = new(StringComparer.OrdinalIgnoreCase) { "GET", "HEAD", "OPTIONS", "PUT", "DELETE" };

    private ClusterRuntime(ResourceId id, ClusterDefinition definition, Backend[] backends, ConnectionPool pool, RetryBudget budget)
    {
        Id = id;
        Name = id.ToString();
        Definition = definition;
        Backends = backends;
        Pool = pool;
        Budget = budget;
        var spec = definition.Spec ?? new ClusterSpec();
        Balancer = LoadBalancer.For(spec.LoadBalancing);
        // Without a retry policy a request is retried once on another backend if the first could not
        // be connected to, as nginx does by default: nothing reached a backend, so nothing repeats.
        var retry = spec.Retry ?? new RetrySpec { MaxAttempts = 2, RetryOn = ["connect-failure"] };
        MaxAttempts = retry.MaxAttempts;
        RetryOnConnectFailure = retry.RetryOn.Contains("connect-failure");
        RetryOnTimeout = retry.RetryOn.Contains("timeout");
        RetryStatuses = [.. retry.RetryOn.Where(c => int.TryParse(c, out _)).Select(int.Parse)];
        MaxBufferedBodyBytes = MaxAttempts > 1 ? retry.MaxBufferedBodyBytes : 0;
        Breaker = spec.CircuitBreaker is { } cb
            ? new CircuitBreakerSettings(cb.ConsecutiveFailures, cb.OpenSeconds * Stopwatch.Frequency)
            : null;
        Affinity = spec.SessionAffinity;
        var idle = spec.Timeouts?.IdleSeconds ?? spec.Timeouts?.ResponseHeadersSeconds;
        ResponseHeadersTimeout = spec.Timeouts?.ResponseHeadersSeconds is { } headers ? TimeSpan.FromSeconds(headers) : null;
        // YARP's activity timeout covers the wait for response headers and every gap in a stream.
        var activity = idle is { } seconds ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromSeconds(100);
        Http = new ForwarderRequestConfig { ActivityTimeout = activity };
        // gRPC needs HTTP/2, and over cleartext only prior knowledge gives it: ask for exactly 2.0.
        Grpc = new ForwarderRequestConfig { ActivityTimeout = activity, Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        AffinityKeys = Affinity is null ? null : backends.ToDictionary(b => AffinityKey(id, b.Id), b => b, StringComparer.Ordinal);
    }

    public ResourceId Id { get; }
    public string Name { get; }
    public ClusterDefinition Definition { get; }
    /// <summary>The enabled backends with a weight above 0, by ID.</summary>
    public Backend[] Backends { get; }
    public ConnectionPool Pool { get; }
    public RetryBudget Budget { get; }
    public LoadBalancer Balancer { get; }
    public int MaxAttempts { get; }
    public bool RetryOnConnectFailure { get; }
    public bool RetryOnTimeout { get; }
    public int[] RetryStatuses { get; }
    public long MaxBufferedBodyBytes { get; }
    public CircuitBreakerSettings? Breaker { get; }
    public SessionAffinitySpec? Affinity { get; }
    public TimeSpan? ResponseHeadersTimeout { get; }
    public ForwarderRequestConfig Http { get; }
    public ForwarderRequestConfig Grpc { get; }
    private Dictionary<string, Backend>? AffinityKeys { get; }

    public static bool IsIdempotent(string method) => IdempotentMethods.Contains(method);

    public bool RetriesStatus(int status)
    {
        foreach (var retried in RetryStatuses)
        {
            if (retried == status)
                return true;
        }
        return false;
    }

    /// <summary>The backend a client's affinity key names, if it is still one of this cluster's.</summary>
    public int FindByAffinity(string? key)
    {
        if (key is null || AffinityKeys is null || !AffinityKeys.TryGetValue(key, out var backend))
            return -1;
        return Array.IndexOf(Backends, backend);
    }

    /// <summary>An opaque, stable key for a backend: clients see no backend IDs or addresses.</summary>
    public string AffinityKey(Backend backend) => AffinityKey(Id, backend.Id);

    private static string AffinityKey(ResourceId cluster, string backend)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{cluster}/{backend}"));
        return Convert.ToHexStringLower(hash, 0, 8);
    }

    /// <summary>
    /// The runtime for <paramref name="definition"/>, keeping what <paramref name="previous"/> knew
    /// of backends that kept their ID and address, and its connection pool when the connection
    /// settings are unchanged.
    /// </summary>
    public static ClusterRuntime Build(ResourceId id, ClusterDefinition definition, ClusterRuntime? previous, TrafficRegistry? traffic = null)
    {
        var spec = definition.Spec ?? new ClusterSpec();
        var backends = new List<Backend>(definition.Backends.Count);
        foreach (var (backendId, backend) in definition.Backends.OrderBy(b => b.Key, StringComparer.Ordinal))
        {
            if (!backend.Enabled || backend.Weight <= 0)
                continue;
            var address = backend.Address.TrimEnd('/');
            var state = previous?.Backends.FirstOrDefault(b => b.Id == backendId && b.Address == address)?.State ?? new BackendState();
            backends.Add(new Backend(backendId, address, backend.Weight, state, traffic?.Backend(id, backendId)));
        }
        var settings = ConnectionSettings.From(spec);
        var pool = previous is not null && previous.Pool.Settings == settings ? previous.Pool : new ConnectionPool(settings);
        return new ClusterRuntime(id, definition, [.. backends], pool, previous?.Budget ?? new RetryBudget());
    }
}

/// <summary>
/// Envoy's retry budget: retries in flight may be at most 20% of the cluster's requests in flight,
/// but 3 are always allowed, so a lone client's sequential requests are retried while an outage
/// cannot be amplified by every request trying every backend.
/// </summary>
public sealed class RetryBudget
{
    private const double Ratio = 0.2;
    private const int Floor = 3;
    private int _active;
    private int _retries;

    public int Active => Volatile.Read(ref _active);
    public void RequestStarted() => Interlocked.Increment(ref _active);
    public void RequestFinished() => Interlocked.Decrement(ref _active);

    public bool TryStartRetry()
    {
        while (true)
        {
            var retries = Volatile.Read(ref _retries);
            if (retries >= Math.Max(Floor, (int)(Volatile.Read(ref _active) * Ratio)))
                return false;
            if (Interlocked.CompareExchange(ref _retries, retries + 1, retries) == retries)
                return true;
        }
    }

    public void RetryFinished() => Interlocked.Decrement(ref _retries);
}

public sealed record ConnectionSettings(TimeSpan ConnectTimeout, int MaxPerBackend, TimeSpan IdleTimeout)
{
    public static ConnectionSettings From(ClusterSpec spec) => new(
        TimeSpan.FromSeconds(spec.Timeouts?.ConnectSeconds ?? 10),
        spec.Connections?.MaxPerBackend ?? int.MaxValue,
        TimeSpan.FromSeconds(spec.Connections?.IdleSeconds ?? new ConnectionsSpec().IdleSeconds));
}

/// <summary>A cluster's connections to its backends: one <see cref="HttpMessageInvoker"/>, shared by its requests.</summary>
public sealed class ConnectionPool
{
    public ConnectionPool(ConnectionSettings settings)
    {
        Settings = settings;
        Invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            // A proxy forwards what it gets: no proxies of its own, redirects, decompression or cookies.
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
            ConnectTimeout = settings.ConnectTimeout,
            MaxConnectionsPerServer = settings.MaxPerBackend,
            PooledConnectionIdleTimeout = settings.IdleTimeout,
        }, disposeHandler: true);
    }

    /// <summary>How long a replaced pool stays open for the requests and streams still using it.</summary>
    private static readonly TimeSpan RetireAfter = TimeSpan.FromMinutes(5);

    public ConnectionSettings Settings { get; }
    public HttpMessageInvoker Invoker { get; }

    /// <summary>Closes the pool's connections once the requests that started on it have had time to finish.</summary>
    public void Retire() => _ = Task.Delay(RetireAfter).ContinueWith(_ => Invoker.Dispose(), TaskScheduler.Default);
}
