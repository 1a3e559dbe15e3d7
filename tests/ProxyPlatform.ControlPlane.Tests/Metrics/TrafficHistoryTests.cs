using ProxyPlatform.ControlPlane.Metrics;
using ProxyPlatform.Metrics;

namespace ProxyPlatform.ControlPlane.Tests.Metrics;

public sealed class TrafficHistoryTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(5);

    /// <summary>Cumulative counts: <paramref name="ok"/> 2xx and <paramref name="failed"/> 5xx, all in the 5–10 ms bucket.</summary>
    private static TrafficCounts Counts(long ok, long failed)
    {
        var counts = new TrafficCounts();
        counts.RequestsByClass[1] = ok;
        counts.RequestsByClass[4] = failed;
        counts.LatencyBuckets[3] = ok + failed;
        counts.LatencySumUs = (ok + failed) * 7000;
        return counts;
    }

    private static Dictionary<string, TrafficCounts> Totals(params (string Route, long Ok, long Failed)[] routes) =>
        routes.ToDictionary(r => r.Route, r => Counts(r.Ok, r.Failed));

    [Fact]
    public void Each_step_keeps_the_growth_of_each_route_as_rates_by_status_class_and_latency_percentiles()
    {
        var history = new TrafficHistory(Step, TimeSpan.FromMinutes(15));
        history.Sample(Start, () => Totals(("api", 100, 0), ("site", 10, 0)));
        // Not a step yet: the totals are not even read.
        history.Sample(Start + TimeSpan.FromSeconds(2), () => throw new InvalidOperationException("read before a step was due"));
        history.Sample(Start + Step, () => Totals(("api", 150, 5), ("site", 10, 0)));
        history.Sample(Start + 2 * Step, () => Totals(("api", 150, 5), ("site", 20, 0)));

        var report = history.Report("acme", Start + 2 * Step, TimeSpan.FromMinutes(15));
        Assert.Equal(["api", "site"], report.Routes.Select(r => r.Route));
        var api = report.Routes[0].Points;
        Assert.Equal(2, api.Count);
        Assert.Equal(Start + Step, api[0].Time);
        Assert.Equal(10.0, api[0].RatePerStatusClass["2xx"]);
        Assert.Equal(1.0, api[0].RatePerStatusClass["5xx"]);
        Assert.Equal(11.0, api[0].RequestsPerSecond);
        Assert.Equal(["1xx", "2xx", "3xx", "4xx", "5xx"], api[0].RatePerStatusClass.Keys);
        Assert.Equal(7.0, api[0].Latency.MeanMs);
        Assert.InRange(api[0].Latency.P50Ms!.Value, 5, 10);
        // A step without growth: zero rates and no latency.
        Assert.Equal(0, api[1].RequestsPerSecond);
        Assert.Null(api[1].Latency.P99Ms);
        Assert.Equal(2.0, report.Routes[1].Points[1].RatePerStatusClass["2xx"]);
    }

    [Fact]
    public void Points_older_than_what_is_kept_are_dropped_and_the_window_narrows_the_answer()
    {
        var kept = TimeSpan.FromMinutes(15);
        var history = new TrafficHistory(Step, kept);
        var requests = 0L;
        var now = Start;
        history.Sample(now, () => Totals(("api", requests, 0)));
        for (var i = 0; i < 300; i++)
        {
            now += Step;
            requests += 5;
            history.Sample(now, () => Totals(("api", requests, 0)));
        }
        var all = history.Report("acme", now, kept).Routes.Single().Points;
        Assert.Equal((int)(kept / Step) + 1, all.Count);
        Assert.All(all, p => Assert.InRange(now - p.Time, TimeSpan.Zero, kept));
        Assert.All(all, p => Assert.Equal(1.0, p.RatePerStatusClass["2xx"]));
        var minute = history.Report("acme", now, TimeSpan.FromMinutes(1)).Routes.Single().Points;
        Assert.Equal(13, minute.Count);
    }

    [Fact]
    public void Counts_that_fall_count_as_no_growth_and_a_route_that_is_gone_has_no_series()
    {
        var history = new TrafficHistory(Step, TimeSpan.FromMinutes(15));
        history.Sample(Start, () => Totals(("api", 100, 0), ("old", 50, 0)));
        // "old" was removed; a worker's restart folded some of api's counts elsewhere for a moment.
        history.Sample(Start + Step, () => Totals(("api", 90, 0)));
        var report = history.Report("acme", Start + Step, TimeSpan.FromMinutes(15));
        var api = Assert.Single(report.Routes);
        Assert.Equal("api", api.Route);
        Assert.Equal(0, Assert.Single(api.Points).RequestsPerSecond);
        Assert.Equal(LatencyBuckets.StatusClassNames, api.Points[0].RatePerStatusClass.Keys);
    }
}
