using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// How many tombstones of removed resources this node holds, per pool: in the pool's distribution
/// grain (when it is active here) and in this node's feed of the pool. Shown on <c>/metrics</c> as
/// <c>proxyplatform_config_tombstones{pool, holder}</c>, so an operator (and a test) can see them
/// fall back once every worker has applied past them.
/// </summary>
public sealed class ConfigTombstones : IDisposable
{
    public const string MeterName = "ProxyPlatform.ControlPlane.Distribution";

    /// <summary>The holders: a pool's distribution grain, and a node's feed of it.</summary>
    public const string Grain = "grain", Feed = "feed";

    private readonly ConcurrentDictionary<(string Pool, string Holder), int> _counts = new();
    private readonly Meter _meter;

    public ConfigTombstones(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _meter.CreateObservableGauge("proxyplatform.config.tombstones",
            () => _counts.Select(c => new Measurement<int>(c.Value, new("pool", c.Key.Pool), new("holder", c.Key.Holder))),
            description: "Tombstones of removed resources held for deltas, until every connected worker has applied past them.");
    }

    public void Set(string pool, string holder, int count) => _counts[(pool, holder)] = count;

    public void Forget(string pool, string holder) => _counts.TryRemove((pool, holder), out _);

    public void Dispose() => _meter.Dispose();
}
