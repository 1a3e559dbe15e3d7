namespace ProxyPlatform.ControlPlane.Metrics;

/// <summary>
/// A pool's request rate (<see cref="IPoolTrafficGrain"/>): the latest rate of each of its workers, summed
/// over those that reported within <see cref="Fresh"/>. Each node reports a worker's new requests between
/// two of its reports (<see cref="ReceivedTraffic.Take"/>), so the rate needs no cumulative state here.
/// </summary>
public sealed class PoolTrafficGrain(TimeProvider time) : Grain, IPoolTrafficGrain
{
    /// <summary>A worker whose last report is older than this (workers report every 5 s by default) counts no more.</summary>
    public static readonly TimeSpan Fresh = TimeSpan.FromSeconds(20);
    /// <summary>At most this many workers are tracked per pool (the most a pool may ask for); more are ignored until some leave.</summary>
    private const int MaxWorkers = Configuration.ConfigValidator.MaxReplicas * 2;

    private readonly Dictionary<string, (string Instance, double Rate, DateTimeOffset At)> _workers = [];

    public Task Report(string worker, string instance, long requests, double seconds)
    {
        if (requests < 0 || !(seconds > 0) || !double.IsFinite(seconds))
            return Task.CompletedTask;
        var now = time.GetUtcNow();
        if (_workers.Count >= MaxWorkers && !_workers.ContainsKey(worker))
            Prune(now);
        if (_workers.Count < MaxWorkers || _workers.ContainsKey(worker))
            _workers[worker] = (instance, requests / seconds, now);
        return Task.CompletedTask;
    }

    public Task Forget(string worker, string instance)
    {
        if (_workers.TryGetValue(worker, out var entry) && entry.Instance == instance)
            _workers.Remove(worker);
        return Task.CompletedTask;
    }

    public Task<PoolRate> GetRate()
    {
        Prune(time.GetUtcNow());
        // A worker reports only when its counters moved: one silent for a while serves nothing, and counts 0.
        return Task.FromResult(new PoolRate(_workers.Values.Sum(w => w.Rate), _workers.Count));
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (worker, entry) in _workers.ToList())
        {
            if (now - entry.At > Fresh)
                _workers.Remove(worker);
        }
    }
}
