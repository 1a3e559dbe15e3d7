using System.Diagnostics;
using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.Metrics;

namespace ProxyPlatform.DataPlane.Tests.Metrics;

public sealed class LatencyHistogramTests
{
    private static long Ticks(double ms) => (long)(ms * Stopwatch.Frequency / 1000);

    [Fact]
    public void Each_request_lands_in_the_first_bucket_whose_bound_it_does_not_exceed()
    {
        var counters = new TrafficCounters();
        counters.Record(200, 10, 20, Ticks(0.5));   // ≤ 1 ms
        counters.Record(201, 0, 0, Ticks(1));       // ≤ 1 ms (bounds are inclusive)
        counters.Record(404, 0, 0, Ticks(7));       // ≤ 10 ms
        counters.Record(503, 0, 5, Ticks(60_000));  // beyond the last bound
        counters.Record(0, 0, 0, Ticks(3));         // no status at all counts as 5xx

        var reading = counters.Read();
        Assert.Equal([0, 2, 0, 1, 2], reading.RequestsByClass);
        Assert.Equal(10, reading.BytesIn);
        Assert.Equal(25, reading.BytesOut);
        Assert.Equal(2, reading.LatencyBuckets[0]);
        Assert.Equal(1, reading.LatencyBuckets[LatencyBuckets.BoundsMs.ToList().IndexOf(5)]);
        Assert.Equal(1, reading.LatencyBuckets[LatencyBuckets.BoundsMs.ToList().IndexOf(10)]);
        Assert.Equal(1, reading.LatencyBuckets[^1]);
        Assert.Equal(5, reading.Requests);
        Assert.InRange(reading.LatencySumUs, 60_011_000, 60_012_000);
    }

    [Fact]
    public void Counting_a_request_allocates_nothing()
    {
        var counters = new TrafficCounters();
        counters.Record(200, 1, 1, Ticks(3));
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
            counters.Record(200 + i % 400, i, i, Ticks(i % 50));
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Fact]
    public void Concurrent_requests_are_all_counted()
    {
        var counters = new TrafficCounters();
        Parallel.For(0, 40_000, i => counters.Record(i % 2 == 0 ? 200 : 500, 1, 2, Ticks(i % 100)));
        var reading = counters.Read();
        Assert.Equal(20_000, reading.RequestsByClass[1]);
        Assert.Equal(20_000, reading.RequestsByClass[4]);
        Assert.Equal(40_000, reading.LatencyBuckets.Sum());
        Assert.Equal(40_000, reading.BytesIn);
        Assert.Equal(80_000, reading.BytesOut);
    }

    [Fact]
    public void Percentiles_interpolate_inside_the_bucket_they_fall_in()
    {
        var buckets = new long[LatencyBuckets.Count];
        // 100 requests: 50 in (5, 10] ms, 40 in (10, 25] ms, 10 in (100, 250] ms.
        buckets[LatencyBuckets.BoundsMs.ToList().IndexOf(10)] = 50;
        buckets[LatencyBuckets.BoundsMs.ToList().IndexOf(25)] = 40;
        buckets[LatencyBuckets.BoundsMs.ToList().IndexOf(250)] = 10;

        Assert.Equal(10, LatencyBuckets.Percentile(buckets, 0.50));          // the 50th falls on the bucket's top
        Assert.Equal(5 + 5 * (25.0 / 50), LatencyBuckets.Percentile(buckets, 0.25));
        Assert.Equal(10 + 15 * (40.0 / 40), LatencyBuckets.Percentile(buckets, 0.90));
        Assert.Equal(100 + 150 * (9.0 / 10), LatencyBuckets.Percentile(buckets, 0.99)!.Value, 6);
        Assert.Null(LatencyBuckets.Percentile(new long[LatencyBuckets.Count], 0.5));
    }

    [Fact]
    public void A_percentile_in_the_open_ended_bucket_is_the_last_bound()
    {
        var buckets = new long[LatencyBuckets.Count];
        buckets[^1] = 3;
        Assert.Equal(LatencyBuckets.BoundsMs[^1], LatencyBuckets.Percentile(buckets, 0.5));
    }
}
