using ProxyPlatform.DataPlane.Clusters;

namespace ProxyPlatform.DataPlane.LoadBalancing;

/// <summary>
/// Where one request's attempts go, in turn: the first to the backend the client's affinity key
/// names while its circuit allows, else to the cluster's balancer's choice among backends this
/// request has not tried; once every backend was tried, any of them again. Backends whose circuit
/// is open are never chosen. A struct that lives in the request's state machine: no allocation.
/// </summary>
public struct BackendChoice(ClusterRuntime cluster, string? affinityKey)
{
    /// <summary>A bit per backend index (the first 64) that this request has been sent to, or chosen for.</summary>
    private ulong _tried;

    /// <summary>The backend for the next attempt, or null when every backend's circuit is open.</summary>
    /// <param name="firstAttempt">True until an attempt has been made: only the first follows the affinity key.</param>
    /// <param name="now">The current <see cref="System.Diagnostics.Stopwatch"/> timestamp, for the circuits.</param>
    public Backend? Next(bool firstAttempt, long now)
    {
        var backends = cluster.Backends;
        var index = firstAttempt && cluster.Affinity is { } affinity ? affinity.Find(affinityKey) : -1;
        if (index >= 0 && !backends[index].State.IsSelectable(now))
            index = -1;
        if (index < 0)
            index = cluster.Balancer.Choose(backends, _tried, now);
        // Every backend tried once: a further attempt may go to one of them again.
        if (index < 0 && _tried != 0)
            index = cluster.Balancer.Choose(backends, 0, now);
        if (index < 0)
            return null;
        if (index < 64)
            _tried |= 1UL << index;
        return backends[index];
    }
}
