using System.Diagnostics;
using System.Net;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.LoadBalancing;
using ProxyPlatform.DataPlane.Metrics;
using Yarp.ReverseProxy.Forwarder;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Clusters;

/// <summary>
/// A cluster as the worker serves it: its enabled backends, the ones it routes to under the control
/// plane's verdicts, how one is chosen, how failures are retried and broken, and the connection pool
/// its requests travel on.
/// </summary>
public sealed class ClusterRuntime
{
    private ClusterRuntime(ResourceKey id, ClusterDefinition definition, Backend[] enabled, Backend[] backends, bool allUnhealthy, ConnectionPool pool, RetryBudget budget)
    {
        Id = id;
        Name = id.QualifiedId;
        Definition = definition;
        Enabled = enabled;
        Backends = backends;
        AllUnhealthy = allUnhealthy;
        Pool = pool;
        Budget = budget;
        var spec = definition.Spec ?? new ClusterSpec();
        Balancer = LoadBalancer.For(spec.LoadBalancing);
        Retry = RetryPolicy.From(spec.Retry);
        Breaker = spec.CircuitBreaker is { } cb
            ? new CircuitBreakerSettings(cb.ConsecutiveFailures, cb.OpenSeconds * Stopwatch.Frequency)
            : null;
        Affinity = spec.SessionAffinity is { } affinity ? new SessionAffinity(affinity, id, backends) : null;
        var idle = spec.Timeouts?.IdleSeconds ?? spec.Timeouts?.ResponseHeadersSeconds;
        ResponseHeadersTimeout = spec.Timeouts?.ResponseHeadersSeconds is { } headers ? TimeSpan.FromSeconds(headers) : null;
        // YARP's activity timeout covers the wait for response headers and every gap in a stream.
        var activity = idle is { } seconds ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromSeconds(100);
        Http = new ForwarderRequestConfig { ActivityTimeout = activity };
        // gRPC needs HTTP/2, and over cleartext only prior knowledge gives it: ask for exactly 2.0.
        Grpc = new ForwarderRequestConfig { ActivityTimeout = activity, Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
    }

    public ResourceKey Id { get; }
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
    public RetryPolicy Retry { get; }
    public CircuitBreakerSettings? Breaker { get; }
    /// <summary>Keeps a client on the backend that answered it before; null when the cluster has no <c>sessionAffinity</c>.</summary>
    public SessionAffinity? Affinity { get; }
    public TimeSpan? ResponseHeadersTimeout { get; }
    public ForwarderRequestConfig Http { get; }
    public ForwarderRequestConfig Grpc { get; }

    /// <summary>How YARP sends <paramref name="request"/>: gRPC over HTTP/2 exactly, anything else as the connection allows.</summary>
    public ForwarderRequestConfig RequestConfigFor(HttpRequest request) =>
        request.Protocol == "HTTP/2" && request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true ? Grpc : Http;

    /// <summary>
    /// The runtime for <paramref name="definition"/> under the verdicts in <paramref name="health"/>,
    /// keeping what <paramref name="previous"/> knew of backends that kept their ID and address, and
    /// its connection pool when the connection settings are unchanged: a new verdict or a drained
    /// backend swaps the cluster's state without touching a connection or a request in flight.
    /// Verdicts count only while the cluster has a health check (without one, nobody probes it).
    /// </summary>
    public static ClusterRuntime Build(ResourceKey id, ClusterDefinition definition, ClusterHealthSpec? health, ClusterRuntime? previous, BackendConnector? connector = null, TrafficRegistry? traffic = null)
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
        var settings = ConnectionSettings.From(spec, connector, id.Tenant);
        var pool = previous is not null && previous.Pool.Settings == settings ? previous.Pool : new ConnectionPool(settings);
        return new ClusterRuntime(id, definition, [.. enabled], [.. backends], allUnhealthy, pool, previous?.Budget ?? new RetryBudget());
    }
}
