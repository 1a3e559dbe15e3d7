namespace ProxyPlatform.Metrics;

/// <summary>
/// The fixed latency buckets every worker counts in and the control plane adds up, and the
/// percentile estimate read from them. Fixed bounds make the histograms of all workers and all
/// reports addable bucket by bucket.
/// </summary>
public static class LatencyBuckets
{
    /// <summary>Upper bounds in milliseconds; one more, open-ended bucket follows the last.</summary>
    public static IReadOnlyList<double> BoundsMs { get; } = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];

    /// <summary>The number of buckets: the bounds and the open-ended one.</summary>
    public static int Count => BoundsMs.Count + 1;

    /// <summary>
    /// The latency (ms) below which <paramref name="quantile"/> of the requests fell, interpolated
    /// linearly inside the bucket it lands in (as Prometheus' <c>histogram_quantile</c> does). A
    /// quantile in the open-ended bucket is reported as the last bound; null without requests.
    /// </summary>
    public static double? Percentile(IReadOnlyList<long> buckets, double quantile)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quantile, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quantile, 1);
        long total = 0;
        foreach (var count in buckets)
            total += count;
        if (total == 0)
            return null;
        var rank = quantile * total;
        long below = 0;
        for (var i = 0; i < buckets.Count; i++)
        {
            var count = buckets[i];
            if (count > 0 && below + count >= rank)
            {
                if (i >= BoundsMs.Count)
                    return BoundsMs[^1];
                var lower = i == 0 ? 0 : BoundsMs[i - 1];
                var upper = BoundsMs[i];
                return lower + (upper - lower) * Math.Clamp((rank - below) / count, 0, 1);
            }
            below += count;
        }
        return BoundsMs[^1];
    }

    /// <summary>The status class a status belongs to, as an index 0–4 for 1xx–5xx; anything else counts as 5xx.</summary>
    public static int StatusClass(int status) => status is >= 100 and < 600 ? status / 100 - 1 : 4;

    /// <summary>The names of the status classes, by index.</summary>
    public static IReadOnlyList<string> StatusClassNames { get; } = ["1xx", "2xx", "3xx", "4xx", "5xx"];
}
