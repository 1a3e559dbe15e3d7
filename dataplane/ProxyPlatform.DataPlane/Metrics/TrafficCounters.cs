using System.Diagnostics;
using ProxyPlatform.Metrics;

namespace ProxyPlatform.DataPlane.Metrics;

/// <summary>
/// The counters of one route or backend: requests by status class, bytes in and out, and a latency
/// histogram in <see cref="LatencyBuckets"/>. Written by every request with <see cref="Interlocked"/>
/// only (no locks, lookups or allocations); read whole by the reporter and the scrape endpoint.
/// </summary>
public sealed class TrafficCounters
{
    /// <summary>The bucket bounds in <see cref="Stopwatch"/> ticks, so a request's latency is never converted.</summary>
    private static readonly long[] BoundTicks = [.. LatencyBuckets.BoundsMs.Select(ms => (long)(ms * Stopwatch.Frequency / 1000))];

    private readonly long[] _classes = new long[5];
    private readonly long[] _buckets = new long[LatencyBuckets.Count];
    private long _bytesIn;
    private long _bytesOut;
    private long _latencySumTicks;

    /// <summary>Counts one request (or attempt) that ended with <paramref name="status"/> after <paramref name="elapsedTicks"/>.</summary>
    public void Record(int status, long bytesIn, long bytesOut, long elapsedTicks)
    {
        Interlocked.Increment(ref _classes[LatencyBuckets.StatusClass(status)]);
        if (bytesIn > 0)
            Interlocked.Add(ref _bytesIn, bytesIn);
        if (bytesOut > 0)
            Interlocked.Add(ref _bytesOut, bytesOut);
        var bounds = BoundTicks;
        var bucket = 0;
        while (bucket < bounds.Length && elapsedTicks > bounds[bucket])
            bucket++;
        Interlocked.Increment(ref _buckets[bucket]);
        Interlocked.Add(ref _latencySumTicks, elapsedTicks);
    }

    /// <summary>Every request counted so far: it grows with each one, so it tells whether anything changed.</summary>
    public long Requests
    {
        get
        {
            long total = 0;
            for (var i = 0; i < _classes.Length; i++)
                total += Volatile.Read(ref _classes[i]);
            return total;
        }
    }

    /// <summary>The counters as they are now. Each value is read atomically; together they may be a request apart.</summary>
    public TrafficReading Read()
    {
        var classes = new long[_classes.Length];
        for (var i = 0; i < classes.Length; i++)
            classes[i] = Volatile.Read(ref _classes[i]);
        var buckets = new long[_buckets.Length];
        for (var i = 0; i < buckets.Length; i++)
            buckets[i] = Volatile.Read(ref _buckets[i]);
        var sumUs = (long)(Volatile.Read(ref _latencySumTicks) * (1_000_000.0 / Stopwatch.Frequency));
        return new TrafficReading(classes, Volatile.Read(ref _bytesIn), Volatile.Read(ref _bytesOut), buckets, sumUs);
    }
}

/// <summary>A reading of <see cref="TrafficCounters"/>: cumulative values since the counters were created.</summary>
public sealed record TrafficReading(long[] RequestsByClass, long BytesIn, long BytesOut, long[] LatencyBuckets, long LatencySumUs)
{
    public long Requests => RequestsByClass.Sum();
}
