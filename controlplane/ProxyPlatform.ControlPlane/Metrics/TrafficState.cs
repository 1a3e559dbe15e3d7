using ProxyPlatform.Metrics;

namespace ProxyPlatform.ControlPlane.Metrics;

/// <summary>Cumulative counters of one series (or a sum of series): requests by status class, bytes, latency buckets.</summary>
[GenerateSerializer, Alias("pp.TrafficCounts")]
public sealed class TrafficCounts
{
    [Id(0)] public long[] RequestsByClass { get; set; } = new long[5];
    [Id(1)] public long BytesIn { get; set; }
    [Id(2)] public long BytesOut { get; set; }
    [Id(3)] public long[] LatencyBuckets { get; set; } = new long[ProxyPlatform.Metrics.LatencyBuckets.Count];
    [Id(4)] public long LatencySumUs { get; set; }

    public long Requests => RequestsByClass.Sum();

    public static TrafficCounts From(TrafficSample sample)
    {
        var counts = new TrafficCounts();
        counts.MaxWith(sample);
        return counts;
    }

    /// <summary>
    /// Takes in a later (or repeated, or reordered) reading of the same cumulative series: every value
    /// only grows, so the largest seen is the latest. Returns true when anything grew.
    /// </summary>
    public bool MaxWith(TrafficSample sample)
    {
        var grew = MaxInto(RequestsByClass, sample.RequestsByClass) | MaxInto(LatencyBuckets, sample.LatencyBuckets);
        if (sample.BytesIn > BytesIn) { BytesIn = sample.BytesIn; grew = true; }
        if (sample.BytesOut > BytesOut) { BytesOut = sample.BytesOut; grew = true; }
        if (sample.LatencySumUs > LatencySumUs) { LatencySumUs = sample.LatencySumUs; grew = true; }
        return grew;
    }

    public void Add(TrafficCounts other)
    {
        for (var i = 0; i < Math.Min(RequestsByClass.Length, other.RequestsByClass.Length); i++)
            RequestsByClass[i] += other.RequestsByClass[i];
        for (var i = 0; i < Math.Min(LatencyBuckets.Length, other.LatencyBuckets.Length); i++)
            LatencyBuckets[i] += other.LatencyBuckets[i];
        BytesIn += other.BytesIn;
        BytesOut += other.BytesOut;
        LatencySumUs += other.LatencySumUs;
    }

    private static bool MaxInto(long[] target, long[] values)
    {
        var grew = false;
        for (var i = 0; i < Math.Min(target.Length, values.Length); i++)
        {
            if (values[i] > target[i])
            {
                target[i] = values[i];
                grew = true;
            }
        }
        return grew;
    }
}

/// <summary>
/// A tenant's traffic as stored (jsonb): the latest cumulative counts of each live worker
/// instance's series, and the folded counts of instances that have since restarted.
/// </summary>
[GenerateSerializer, Alias("pp.TenantTrafficState")]
public sealed class TenantTrafficState
{
    /// <summary>Live series by <c>series|epoch|instance|worker</c> (the worker last: it is the one part that may hold any character).</summary>
    [Id(0)] public Dictionary<string, TrafficCounts> Live { get; set; } = [];
    /// <summary>Counts of ended worker instances by <c>series|worker</c>.</summary>
    [Id(1)] public Dictionary<string, TrafficCounts> Folded { get; set; } = [];
    /// <summary>Each worker's current instance.</summary>
    [Id(2)] public Dictionary<string, string> Instances { get; set; } = [];
    /// <summary>Each worker's ended instances (the latest few), whose late reports are ignored.</summary>
    [Id(3)] public Dictionary<string, List<string>> EndedInstances { get; set; } = [];
    [Id(4)] public DateTimeOffset? LastReport { get; set; }
    /// <summary>
    /// Live keys of series whose route or backend was removed, with when: their late reports are ignored
    /// for a while (a re-created route's series has a new epoch, so it counts again at once).
    /// </summary>
    [Id(5)] public Dictionary<string, DateTimeOffset> Forgotten { get; set; } = [];
    /// <summary>When each worker last reported; a worker gone past the expiry is folded into the departed ones.</summary>
    [Id(6)] public Dictionary<string, DateTimeOffset> WorkerSeen { get; set; } = [];
}
