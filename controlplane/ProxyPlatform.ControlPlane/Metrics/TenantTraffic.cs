using ProxyPlatform.Metrics;

namespace ProxyPlatform.ControlPlane.Metrics;

/// <summary>
/// The arithmetic of a tenant's traffic. Workers report cumulative counts per (worker, instance,
/// series, epoch); the latest of each is kept, so a repeated, reordered or lost-and-resent report
/// counts once. The tenant's totals are the sum of the latest counts of every series ever reported.
/// A worker that restarts reports under a new instance from zero: its previous instance's counts are
/// folded into per-worker totals then, and that instance's late reports are ignored from then on.
/// The series of a removed route or backend are dropped (a removed route's requests stay in the
/// tenant's totals, under <see cref="RemovedRoutes"/>), and their late reports ignored.
/// </summary>
public sealed class TenantTraffic(TenantTrafficState state)
{
    /// <summary>How many ended instances of a worker are remembered to ignore their late reports.</summary>
    private const int EndedInstancesKept = 8;

    /// <summary>How long the keys of removed series are remembered: longer than any report stays in flight.</summary>
    public static readonly TimeSpan ForgottenKept = TimeSpan.FromMinutes(10);

    /// <summary>The worker that the counts of workers long gone are shown under, together.</summary>
    public const string DepartedWorkers = "(departed)";

    /// <summary>The series that holds the requests of removed routes: the tenant's, no route's.</summary>
    public const string RemovedRoutes = "r/";

    public TenantTrafficState State { get; } = state;

    /// <summary>Takes in a report; true when anything changed.</summary>
    public bool Apply(string worker, string instance, IReadOnlyList<TrafficSample> samples, DateTimeOffset now)
    {
        if (State.EndedInstances.TryGetValue(worker, out var ended) && ended.Contains(instance))
            return false;
        var changed = false;
        State.WorkerSeen[worker] = now;
        if (!State.Instances.TryGetValue(worker, out var current) || current != instance)
        {
            if (current is not null)
                EndInstance(worker, current);
            State.Instances[worker] = instance;
            changed = true;
        }
        foreach (var sample in samples)
        {
            var key = $"{SeriesKey(sample)}|{sample.Epoch}|{instance}|{worker}";
            if (State.Forgotten.ContainsKey(key))
                continue;
            if (sample.Removed)
            {
                // The worker's final report of a series it no longer has: the route's requests stay in the tenant's totals.
                var final = State.Live.Remove(key, out var live) ? live : new TrafficCounts();
                final.MaxWith(sample);
                if (!sample.IsBackend)
                    AddTo(State.Folded, $"{RemovedRoutes}|{worker}", final);
                State.Forgotten[key] = now;
                changed = true;
                continue;
            }
            if (State.Live.TryGetValue(key, out var counts))
                changed |= counts.MaxWith(sample);
            else
            {
                State.Live[key] = TrafficCounts.From(sample);
                changed = true;
            }
        }
        if (changed)
            State.LastReport = now;
        return changed;
    }

    /// <summary>
    /// Drops the series of removed routes and backends (<c>r/route</c>, <c>b/cluster/backend</c>, or the
    /// prefix <c>b/cluster/</c>); a route's requests move to <see cref="RemovedRoutes"/>. True when anything changed.
    /// </summary>
    public bool Forget(IReadOnlyCollection<string> series, DateTimeOffset now)
    {
        foreach (var (key, at) in State.Forgotten.ToList())
        {
            if (now - at >= ForgottenKept)
                State.Forgotten.Remove(key);
        }
        bool Matches(string key)
        {
            var name = key[..key.IndexOf('|', StringComparison.Ordinal)];
            return name != RemovedRoutes && series.Any(s => s.EndsWith('/') ? name.StartsWith(s, StringComparison.Ordinal) : name == s);
        }
        var changed = false;
        foreach (var key in State.Live.Keys.Where(Matches).ToList())
        {
            var parts = key.Split('|', 4);
            if (parts[0].StartsWith("r/", StringComparison.Ordinal))
                AddTo(State.Folded, $"{RemovedRoutes}|{parts[3]}", State.Live[key]);
            State.Live.Remove(key);
            State.Forgotten[key] = now;
            changed = true;
        }
        foreach (var key in State.Folded.Keys.Where(Matches).ToList())
        {
            var parts = key.Split('|', 2);
            if (parts[0].StartsWith("r/", StringComparison.Ordinal))
                AddTo(State.Folded, $"{RemovedRoutes}|{parts[1]}", State.Folded[key]);
            State.Folded.Remove(key);
            changed = true;
        }
        return changed;
    }

    /// <summary>
    /// Folds the counts of workers that last reported before <paramref name="cutoff"/> into
    /// <see cref="DepartedWorkers"/> and forgets those workers, so that autoscaled workers, each with an
    /// ID of its own, do not grow the state for ever. True when anything changed.
    /// </summary>
    public bool RetireWorkers(DateTimeOffset cutoff)
    {
        var gone = State.WorkerSeen.Where(w => w.Value < cutoff).Select(w => w.Key).ToList();
        foreach (var worker in gone)
        {
            if (State.Instances.Remove(worker, out var instance))
                EndInstance(worker, instance);
            var suffix = $"|{worker}";
            foreach (var key in State.Folded.Keys.Where(k => k.EndsWith(suffix, StringComparison.Ordinal) && k.IndexOf('|', StringComparison.Ordinal) == k.Length - suffix.Length).ToList())
            {
                AddTo(State.Folded, $"{key[..^suffix.Length]}|{DepartedWorkers}", State.Folded[key]);
                State.Folded.Remove(key);
            }
            State.EndedInstances.Remove(worker);
            State.WorkerSeen.Remove(worker);
        }
        return gone.Count > 0;
    }

    /// <summary>The totals of every series by worker (series: <c>r/route</c> or <c>b/cluster/backend</c>).</summary>
    public Dictionary<(string Series, string Worker), TrafficCounts> BySeriesAndWorker()
    {
        var totals = new Dictionary<(string, string), TrafficCounts>();
        foreach (var (key, counts) in State.Folded)
        {
            var parts = key.Split('|', 2);
            AddTo(totals, (parts[0], parts[1]), counts);
        }
        foreach (var (key, counts) in State.Live)
        {
            var parts = key.Split('|', 4);
            AddTo(totals, (parts[0], parts[3]), counts);
        }
        return totals;
    }

    /// <summary>Each live route's totals over every worker, by route ID (what the traffic history steps through).</summary>
    public Dictionary<string, TrafficCounts> RouteTotals()
    {
        var routes = new Dictionary<string, TrafficCounts>(StringComparer.Ordinal);
        foreach (var ((series, _), counts) in BySeriesAndWorker())
        {
            if (series.StartsWith("r/", StringComparison.Ordinal) && series != RemovedRoutes)
                AddTo(routes, series[2..], counts);
        }
        return routes;
    }

    /// <summary>The request totals rates are computed from: the tenant's, by status class, route, backend and worker.</summary>
    public Dictionary<string, long> RateTotals()
    {
        var totals = new Dictionary<string, long>();
        foreach (var ((series, worker), counts) in BySeriesAndWorker())
        {
            var requests = counts.Requests;
            Increment(totals, series, requests);
            if (!series.StartsWith("r/", StringComparison.Ordinal))
                continue;
            Increment(totals, "t", requests);
            Increment(totals, $"w/{worker}", requests);
            for (var i = 0; i < counts.RequestsByClass.Length; i++)
            {
                Increment(totals, $"t/{LatencyBuckets.StatusClassNames[i]}", counts.RequestsByClass[i]);
                Increment(totals, $"{series}/{LatencyBuckets.StatusClassNames[i]}", counts.RequestsByClass[i]);
            }
        }
        return totals;
    }

    /// <summary>The tenant's traffic as the admin API shows it. The tenant's requests are its routes' (backend series count attempts).</summary>
    public TenantTrafficReport Report(string tenant, RateWindow rates)
    {
        var totals = BySeriesAndWorker();
        var tenantTotal = new TrafficCounts();
        var routes = new SortedDictionary<string, TrafficCounts>(StringComparer.Ordinal);
        var backends = new SortedDictionary<string, TrafficCounts>(StringComparer.Ordinal);
        var workers = new SortedDictionary<string, TrafficCounts>(StringComparer.Ordinal);
        foreach (var ((series, worker), counts) in totals)
        {
            if (series.StartsWith("r/", StringComparison.Ordinal))
            {
                tenantTotal.Add(counts);
                if (series != RemovedRoutes)
                    AddTo(routes, series, counts);
                AddTo(workers, worker, counts);
            }
            else
            {
                AddTo(backends, series, counts);
            }
        }
        return new TenantTrafficReport(
            tenant,
            Summary(tenantTotal, rates, "t"),
            [.. routes.Select(r => new RouteTraffic(r.Key[2..], Summary(r.Value, rates, r.Key)))],
            [.. backends.Select(b => BackendOf(b.Key, Summary(b.Value, rates, b.Key)))],
            [.. workers.Select(w => new WorkerTraffic(w.Key, Summary(w.Value, rates, $"w/{w.Key}")))],
            (int)rates.Window.TotalSeconds,
            State.LastReport);
    }

    public static TrafficSummary Summary(TrafficCounts counts, RateWindow rates, string rateKey)
    {
        var requests = counts.Requests;
        var byClass = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var rateByClass = new SortedDictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < counts.RequestsByClass.Length; i++)
        {
            if (counts.RequestsByClass[i] == 0)
                continue;
            var name = LatencyBuckets.StatusClassNames[i];
            byClass[name] = counts.RequestsByClass[i];
            rateByClass[name] = Math.Round(rates.Rate($"{rateKey}/{name}"), 3);
        }
        var latency = new LatencySummary(
            requests == 0 ? null : Math.Round(counts.LatencySumUs / 1000.0 / requests, 3),
            Round(LatencyBuckets.Percentile(counts.LatencyBuckets, 0.50)),
            Round(LatencyBuckets.Percentile(counts.LatencyBuckets, 0.90)),
            Round(LatencyBuckets.Percentile(counts.LatencyBuckets, 0.99)));
        return new TrafficSummary(requests, byClass, counts.BytesIn, counts.BytesOut, Math.Round(rates.Rate(rateKey), 3), rateByClass, latency);
    }

    private static BackendTraffic BackendOf(string series, TrafficSummary summary)
    {
        var parts = series[2..].Split('/', 2);
        return new BackendTraffic(parts[0], parts[1], summary);
    }

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 3) : null;

    private static void Increment(Dictionary<string, long> totals, string key, long value) =>
        totals[key] = totals.GetValueOrDefault(key) + value;

    public static string SeriesKey(TrafficSample sample) => sample.IsBackend ? $"b/{sample.Cluster}/{sample.Backend}" : $"r/{sample.Route}";

    private void EndInstance(string worker, string instance)
    {
        var suffix = $"|{instance}|{worker}";
        foreach (var key in State.Live.Keys.Where(k => k.EndsWith(suffix, StringComparison.Ordinal)).ToList())
        {
            AddTo(State.Folded, $"{key.Split('|', 2)[0]}|{worker}", State.Live[key]);
            State.Live.Remove(key);
        }
        if (!State.EndedInstances.TryGetValue(worker, out var ended))
            State.EndedInstances[worker] = ended = [];
        ended.Add(instance);
        if (ended.Count > EndedInstancesKept)
            ended.RemoveAt(0);
    }

    private static void AddTo<TKey>(IDictionary<TKey, TrafficCounts> totals, TKey key, TrafficCounts counts)
    {
        if (!totals.TryGetValue(key, out var total))
            totals[key] = total = new TrafficCounts();
        total.Add(counts);
    }
}

/// <summary>
/// Recent rates from timestamped samples of request totals: at most one sample a second, kept for
/// the window; a rate is the growth between the oldest sample in the window and the newest, per second.
/// In memory only: after a restart rates start again from the first reports.
/// </summary>
public sealed class RateWindow(TimeSpan window)
{
    private readonly LinkedList<(DateTimeOffset At, Dictionary<string, long> Totals)> _samples = new();

    public TimeSpan Window { get; } = window;

    public void Sample(DateTimeOffset now, Dictionary<string, long> totals)
    {
        if (_samples.Last is { } last && now - last.Value.At < TimeSpan.FromSeconds(1))
            _samples.RemoveLast();
        _samples.AddLast((now, totals));
        // Keep one sample older than the window, so the window is covered from its start.
        while (_samples.First is { } first && first.Next is { } second && now - second.Value.At >= Window)
            _samples.RemoveFirst();
    }

    /// <summary>Requests per second of <paramref name="key"/> over the window; 0 with fewer than two samples.</summary>
    public double Rate(string key)
    {
        if (_samples.First is not { } first || _samples.Last is not { } last || ReferenceEquals(first, last))
            return 0;
        var seconds = (last.Value.At - first.Value.At).TotalSeconds;
        if (seconds <= 0)
            return 0;
        var growth = last.Value.Totals.GetValueOrDefault(key) - first.Value.Totals.GetValueOrDefault(key);
        return Math.Max(0, growth) / seconds;
    }
}
