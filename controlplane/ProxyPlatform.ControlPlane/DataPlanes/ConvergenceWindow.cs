namespace ProxyPlatform.ControlPlane.DataPlanes;

/// <summary>
/// One worker's apply times: for each revision of its pool that was committed while it was connected,
/// how long after the commit the worker acknowledged it. Bounded by age and by count (the oldest go
/// first), so a busy pool keeps a worker's newest samples.
/// </summary>
public sealed class ConvergenceWindow(TimeSpan maxAge, int maxCount)
{
    /// <summary>At most this many samples per worker.</summary>
    public const int DefaultMaxCount = 4_096;

    private readonly Queue<(long Revision, DateTimeOffset AppliedAt, double Milliseconds)> _samples = new();

    public int Count => _samples.Count;

    public void Add(long revision, DateTimeOffset committedAt, DateTimeOffset appliedAt)
    {
        // Commit and acknowledgement may be timed by two nodes' clocks: a skew never makes a negative time.
        // Microseconds are noise across two clocks; rounded once here, a revision's apply time and the percentiles agree.
        _samples.Enqueue((revision, appliedAt, Math.Round(Math.Max(0, (appliedAt - committedAt).TotalMilliseconds), 3)));
        while (_samples.Count > maxCount)
            _samples.Dequeue();
    }

    /// <summary>Drops the samples acknowledged longer ago than the window.</summary>
    public void Trim(DateTimeOffset now)
    {
        while (_samples.TryPeek(out var oldest) && now - oldest.AppliedAt > maxAge)
            _samples.Dequeue();
    }

    /// <summary>How many milliseconds after its commit the worker acknowledged <paramref name="revision"/>, if the window holds it.</summary>
    public double? ApplyTimeOf(long revision)
    {
        foreach (var sample in _samples)
        {
            if (sample.Revision == revision)
                return sample.Milliseconds;
        }
        return null;
    }

    /// <summary>The median and the 99th percentile of the window (nearest rank), or null when it is empty.</summary>
    public (double P50, double P99)? Percentiles(DateTimeOffset now)
    {
        Trim(now);
        if (_samples.Count == 0)
            return null;
        var sorted = _samples.Select(s => s.Milliseconds).ToArray();
        Array.Sort(sorted);
        return (NearestRank(sorted, 0.50), NearestRank(sorted, 0.99));
    }

    /// <summary>The smallest sample that at least <paramref name="quantile"/> of the samples do not exceed.</summary>
    public static double NearestRank(double[] sorted, double quantile)
    {
        var rank = (int)Math.Ceiling(quantile * sorted.Length);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }
}
