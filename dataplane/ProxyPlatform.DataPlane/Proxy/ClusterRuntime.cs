using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Metrics;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyPlatform.DataPlane.Proxy;

/// <summary>
/// A cluster as the worker serves it: its enabled backends, the ones it routes to under the control
/// plane's verdicts, how one is chosen, how failures are retried and broken, and the connection pool
/// its requests travel on.
/// </summary>
public sealed class ClusterRuntime
{
    /// <summary>The methods a retry may repeat: safe or idempotent by RFC 9110 (POST and PATCH never).</summary>
    private static readonly HashSet<string> IdempotentMethods = new(StringComparer.OrdinalIgnoreCase) { "GET", "HEAD", "OPTIONS", "PUT", "DELETE" };

    private ClusterRuntime(ResourceId id, ClusterDefinition definition, Backend[] enabled, Backend[] backends, bool allUnhealthy, ConnectionPool pool, RetryBudget budget)
    {
        Id = id;
        Name = id.ToString();
        Definition = definition;
        Enabled = enabled;
        Backends = backends;
        AllUnhealthy = allUnhealthy;
        Pool = pool;
        Budget = budget;
        var spec = definition.Spec ?? new ClusterSpec();
        Balancer = LoadBalancer.For(spec.LoadBalancing);
        // Without a retry policy a request is retried once on another backend if the first could not
        // be connected to, as nginx does by default: nothing reached a backend, so nothing repeats.
        var retry = spec.Retry ?? new RetrySpec { MaxAttempts = 2, RetryOn = ["connect-failure"] };
        MaxAttempts = retry.MaxAttempts;
        RetryOnConnectFailure = retry.RetryOn.Contains("connect-failure");
        RetryOnReset = retry.RetryOn.Contains("reset");
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
    /// <summary>
    /// The backends requests go to: the enabled ones with a weight above 0 whose verdict is not
    /// Unhealthy (all enabled ones when every one is Unhealthy and the cluster's health check panics), by ID.
    /// </summary>
    public Backend[] Backends { get; }
    /// <summary>The enabled backends with a weight above 0, whatever their verdict: the ones the worker probes.</summary>
    public Backend[] Enabled { get; }
    /// <summary>True when the cluster has enabled backends and the control plane judged every one Unhealthy.</summary>
    public bool AllUnhealthy { get; }
    public ConnectionPool Pool { get; }
    public RetryBudget Budget { get; }
    public LoadBalancer Balancer { get; }
    public int MaxAttempts { get; }
    public bool RetryOnConnectFailure { get; }
    /// <summary>Retry when the connection broke before any response (a backend killed mid-request).</summary>
    public bool RetryOnReset { get; }
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
    /// The runtime for <paramref name="definition"/> under the verdicts in <paramref name="health"/>,
    /// keeping what <paramref name="previous"/> knew of backends that kept their ID and address, and
    /// its connection pool when the connection settings are unchanged: a new verdict or a drained
    /// backend swaps the cluster's state without touching a connection or a request in flight.
    /// Verdicts count only while the cluster has a health check (without one, nobody probes it).
    /// </summary>
    public static ClusterRuntime Build(ResourceId id, ClusterDefinition definition, ClusterHealthSpec? health, ClusterRuntime? previous, IPAddress? bindAddress = null, TrafficRegistry? traffic = null)
    {
        var spec = definition.Spec ?? new ClusterSpec();
        var verdicts = spec.HealthCheck is null ? null : health?.Backends;
        var enabled = new List<Backend>(definition.Backends.Count);
        var routable = new List<Backend>(definition.Backends.Count);
        foreach (var (backendId, backend) in definition.Backends.OrderBy(b => b.Key, StringComparer.Ordinal))
        {
            if (!backend.Enabled || backend.Weight <= 0)
                continue;
            var address = backend.Address.TrimEnd('/');
            var state = previous?.Enabled.FirstOrDefault(b => b.Id == backendId && b.Address == address)?.State ?? new BackendState();
            var built = new Backend(backendId, address, backend.Weight, state, traffic?.Backend(id, backendId));
            enabled.Add(built);
            if (verdicts is null || !verdicts.TryGetValue(backendId, out var verdict) || verdict.Verdict != HealthVerdicts.Unhealthy)
                routable.Add(built);
        }
        var allUnhealthy = enabled.Count > 0 && routable.Count == 0;
        var backends = allUnhealthy && spec.HealthCheck!.Panic ? enabled : routable;
        var settings = ConnectionSettings.From(spec, bindAddress);
        var pool = previous is not null && previous.Pool.Settings == settings ? previous.Pool : new ConnectionPool(settings);
        return new ClusterRuntime(id, definition, [.. enabled], [.. backends], allUnhealthy, pool, previous?.Budget ?? new RetryBudget());
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

public sealed record ConnectionSettings(TimeSpan ConnectTimeout, int MaxPerBackend, TimeSpan IdleTimeout, IPAddress? BindAddress = null)
{
    public static ConnectionSettings From(ClusterSpec spec, IPAddress? bindAddress = null) => new(
        TimeSpan.FromSeconds(spec.Timeouts?.ConnectSeconds ?? 10),
        spec.Connections?.MaxPerBackend ?? int.MaxValue,
        TimeSpan.FromSeconds(spec.Connections?.IdleSeconds ?? new ConnectionsSpec().IdleSeconds),
        bindAddress);
}

/// <summary>Connects from a chosen local address (<c>Proxy:OutboundBindAddress</c>), as nginx's <c>proxy_bind</c> does.</summary>
public static class BoundConnections
{
    /// <summary>A <see cref="SocketsHttpHandler.ConnectCallback"/> that binds the socket to <paramref name="local"/> before connecting.</summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> From(IPAddress local) =>
        async (context, cancellationToken) =>
        {
            var socket = new Socket(local.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(local, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };
}

/// <summary>A cluster's connections to its backends: one <see cref="HttpMessageInvoker"/>, shared by its requests.</summary>
public sealed class ConnectionPool
{
    public ConnectionPool(ConnectionSettings settings)
    {
        Settings = settings;
        var handler = new SocketsHttpHandler
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
        };
        if (settings.BindAddress is { } local)
            handler.ConnectCallback = BoundConnections.From(local);
        Invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    /// <summary>How long a replaced pool stays open for the requests and streams still using it.</summary>
    private static readonly TimeSpan RetireAfter = TimeSpan.FromMinutes(5);

    public ConnectionSettings Settings { get; }
    public HttpMessageInvoker Invoker { get; }

    /// <summary>Closes the pool's connections once the requests that started on it have had time to finish.</summary>
    public void Retire() => _ = Task.Delay(RetireAfter).ContinueWith(_ => Invoker.Dispose(), TaskScheduler.Default);
}
