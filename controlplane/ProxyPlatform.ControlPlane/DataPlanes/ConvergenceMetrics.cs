using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace ProxyPlatform.ControlPlane.DataPlanes;

/// <summary>
/// Convergence on this node's <c>/metrics</c>, fed by the pool grains active here:
/// <c>proxyplatform_config_convergence_seconds{pool}</c>, a histogram of how long after its commit each
/// worker acknowledged each revision of its pool, and <c>proxyplatform_config_lag_revisions{pool, worker}</c>,
/// how many of its pool's revisions each worker of the pool's roster lacks. A pool grain records each
/// acknowledgement once, on the node it is active on, so summing over nodes does not double count; its
/// workers' lag leaves this node when it deactivates, and a worker's when it leaves the roster.
/// </summary>
public sealed class ConvergenceMetrics : IDisposable
{
    public const string MeterName = "ProxyPlatform.ControlPlane.Convergence";

    /// <summary>Bucket bounds in seconds: from a quiet pool's milliseconds to a worker that was stalled for minutes.</summary>
    public static readonly IReadOnlyList<double> Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

    private readonly ConcurrentDictionary<(string Pool, string Worker), long> _lag = new();
    private readonly Meter _meter;
    private readonly Histogram<double> _convergence;

    public ConvergenceMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _convergence = _meter.CreateHistogram("proxyplatform.config.convergence", unit: "s",
            description: "How long after its commit a worker acknowledged a revision of its pool.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Buckets });
        _meter.CreateObservableGauge("proxyplatform.config.lag.revisions",
            () => _lag.Select(l => new Measurement<long>(l.Value, new("pool", l.Key.Pool), new("worker", l.Key.Worker))),
            description: "Revisions of its pool that a worker has not applied.");
    }

    public void Applied(string pool, double milliseconds) =>
        _convergence.Record(milliseconds / 1000, new KeyValuePair<string, object?>("pool", pool));

    public void Lag(string pool, string worker, long revisions) => _lag[(pool, worker)] = revisions;

    public void Forget(string pool, string worker) => _lag.TryRemove((pool, worker), out _);

    public void ForgetPool(string pool)
    {
        foreach (var key in _lag.Keys.Where(k => k.Pool == pool).ToList())
            _lag.TryRemove(key, out _);
    }

    public void Dispose() => _meter.Dispose();
}
