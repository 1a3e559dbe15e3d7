using ProxyPlatform.DataPlane.Metrics;

namespace ProxyPlatform.DataPlane.Clusters;

/// <summary>
/// One backend of a cluster as the worker sends to it. Its <see cref="State"/> (requests in flight,
/// circuit) outlives changes of the cluster, as long as the backend keeps its ID and address.
/// </summary>
public sealed class Backend(string id, string address, int weight, BackendState state, TrafficSeries? traffic = null)
{
    public string Id { get; } = id;
    /// <summary>The destination prefix requests are sent to (the address without a trailing slash).</summary>
    public string Address { get; } = address;
    public int Weight { get; } = weight;
    public BackendState State { get; } = state;
    /// <summary>The attempts sent to this backend, counted under the status it gave (or the worker's 502/504 when it gave none).</summary>
    public TrafficCounters? Traffic { get; } = traffic?.Counters;
    /// <summary>Smooth weighted round robin's running weight; guarded by the balancer's lock.</summary>
    internal long CurrentWeight;
}
