using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Metrics;

/// <summary>
/// The counters of one route (<c>tenant/route</c>) or backend (<c>tenant/cluster/backend</c>) with
/// the names they are reported under. Created at configuration-apply time and hung on the compiled
/// route or backend, so a request finds its counters without a lookup.
/// </summary>
public sealed class TrafficSeries(SeriesKind kind, string tenant, string name, string? backend, ulong epoch)
{
    private volatile bool _retired;
    private volatile string? _cluster;

    public SeriesKind Kind { get; } = kind;
    public string Tenant { get; } = tenant;
    /// <summary>The route (route series) or the cluster (backend series).</summary>
    public string Name { get; } = name;
    public string? Backend { get; } = backend;
    /// <summary>Tells apart the series this worker instance created one after another under one key.</summary>
    public ulong Epoch { get; } = epoch;
    public TrafficCounters Counters { get; } = new();

    public string Route => Kind == SeriesKind.Route ? Name : "";
    /// <summary>The cluster: a backend's own, or the one its route sends to now.</summary>
    public string Cluster
    {
        get => Kind == SeriesKind.Backend ? Name : _cluster ?? "";
        internal set => _cluster = value;
    }

    /// <summary>The route or backend is no longer served: the series is reported one last time, then dropped.</summary>
    public bool Retired
    {
        get => _retired;
        internal set => _retired = value;
    }
}
