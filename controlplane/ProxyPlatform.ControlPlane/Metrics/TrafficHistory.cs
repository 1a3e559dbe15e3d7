using ProxyPlatform.Metrics;

namespace ProxyPlatform.ControlPlane.Metrics;

/// <summary>
/// A tenant's recent traffic per route, step by step: at most one step per <c>step</c>, each the growth
/// of every route's cumulative counts since the step before, kept for <c>kept</c>. Only routes that grew
/// in a step take memory in it (a few floats each), so a quiet tenant costs next to nothing and a busy
/// one is bounded by its routes (its quota) times the steps kept. In memory only: after the grain
/// moves or restarts, the history starts again from the next reports.
/// </summary>
public sealed class TrafficHistory(TimeSpan step, TimeSpan kept)
{
    private const int Classes = 5;

    private readonly Queue<Step> _steps = new();
    private Dictionary<string, TrafficCounts>? _last;
    private DateTimeOffset _lastAt;

    /// <summary>
    /// Takes a step when one is due: reads the routes' cumulative totals (only then) and keeps their growth.
    /// The first call only sets the base the first step grows from.
    /// </summary>
    public void Sample(DateTimeOffset now, Func<Dictionary<string, TrafficCounts>> totals)
    {
        if (_last is not null && now - _lastAt < step)
            return;
        var current = totals();
        if (_last is not null)
        {
            var seconds = (now - _lastAt).TotalSeconds;
            var grown = new Dictionary<string, float[]>();
            foreach (var (route, counts) in current)
            {
                if (PointOf(_last.GetValueOrDefault(route), counts, seconds) is { } point)
                    grown[route] = point;
            }
            _steps.Enqueue(new Step(now, grown));
        }
        _last = current;
        _lastAt = now;
        while (_steps.TryPeek(out var oldest) && now - oldest.At > kept)
            _steps.Dequeue();
    }

    /// <summary>The steps within <paramref name="window"/> of <paramref name="now"/> of every route the latest totals hold, by route ID.</summary>
    public TrafficHistoryReport Report(string tenant, DateTimeOffset now, TimeSpan window)
    {
        window = window > kept ? kept : window;
        var steps = _steps.Where(s => now - s.At <= window).ToList();
        var routes = (_last?.Keys ?? Enumerable.Empty<string>()).Order(StringComparer.Ordinal)
            .Select(route => new RouteTrafficHistory(route, [.. steps.Select(s => ToPoint(s.At, s.Grown.GetValueOrDefault(route)))]))
            .ToList();
        return new TrafficHistoryReport(tenant, (int)step.TotalSeconds, (int)window.TotalSeconds, routes);
    }

    /// <summary>
    /// A route's rates per status class, then its mean and p50/p90/p99 latency, over one step; null when it
    /// did not grow. A count that fell (a series folded elsewhere for a moment) counts as no growth.
    /// </summary>
    private static float[]? PointOf(TrafficCounts? before, TrafficCounts after, double seconds)
    {
        var requestsByClass = new long[Classes];
        long requests = 0;
        for (var i = 0; i < Classes; i++)
        {
            requestsByClass[i] = Math.Max(0, after.RequestsByClass[i] - (before?.RequestsByClass[i] ?? 0));
            requests += requestsByClass[i];
        }
        if (requests == 0 || seconds <= 0)
            return null;
        var buckets = new long[after.LatencyBuckets.Length];
        for (var i = 0; i < buckets.Length; i++)
            buckets[i] = Math.Max(0, after.LatencyBuckets[i] - (before?.LatencyBuckets[i] ?? 0));
        var point = new float[Classes + 4];
        for (var i = 0; i < Classes; i++)
            point[i] = (float)(requestsByClass[i] / seconds);
        point[Classes] = (float)(Math.Max(0, after.LatencySumUs - (before?.LatencySumUs ?? 0)) / 1000.0 / requests);
        point[Classes + 1] = (float)(LatencyBuckets.Percentile(buckets, 0.50) ?? double.NaN);
        point[Classes + 2] = (float)(LatencyBuckets.Percentile(buckets, 0.90) ?? double.NaN);
        point[Classes + 3] = (float)(LatencyBuckets.Percentile(buckets, 0.99) ?? double.NaN);
        return point;
    }

    private static TrafficPoint ToPoint(DateTimeOffset at, float[]? point)
    {
        var rates = new Dictionary<string, double>(Classes);
        double total = 0;
        for (var i = 0; i < Classes; i++)
        {
            var rate = point is null ? 0 : Math.Round(point[i], 3);
            rates[LatencyBuckets.StatusClassNames[i]] = rate;
            total += rate;
        }
        var latency = point is null
            ? new LatencySummary(null, null, null, null)
            : new LatencySummary(Value(point[Classes]), Value(point[Classes + 1]), Value(point[Classes + 2]), Value(point[Classes + 3]));
        return new TrafficPoint(at, Math.Round(total, 3), rates, latency);
    }

    private static double? Value(float value) => float.IsNaN(value) ? null : Math.Round(value, 3);

    private sealed record Step(DateTimeOffset At, Dictionary<string, float[]> Grown);
}
