using ProxyPlatform.ControlPlane.Metrics;
using ProxyPlatform.Metrics;

namespace ProxyPlatform.ControlPlane.Tests.Metrics;

public sealed class TenantTrafficTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static TrafficSample Route(string route, long ok, long failed, ulong epoch = 1)
    {
        var buckets = new long[LatencyBuckets.Count];
        buckets[3] = ok + failed;
        return new TrafficSample(false, route, "web", "", epoch, [0, ok, 0, 0, failed], ok * 10, ok * 100, buckets, (ok + failed) * 7000);
    }

    private static TrafficSample Backend(string backend, long ok) =>
        new(true, "", "web", backend, 7, [0, ok, 0, 0, 0], 0, 0, new long[LatencyBuckets.Count], 0);

    private static TenantTrafficReport Report(TenantTraffic traffic) => traffic.Report("acme", new RateWindow(TimeSpan.FromMinutes(1)));

    private static long Class(TrafficSummary summary, string statusClass) => summary.ByStatusClass.GetValueOrDefault(statusClass);

    [Fact]
    public void A_repeated_or_reordered_report_counts_once()
    {
        var traffic = new TenantTraffic(new TenantTrafficState());
        Assert.True(traffic.Apply("w1", "i1", [Route("api", 5, 1), Backend("a", 5)], Start));
        Assert.True(traffic.Apply("w1", "i1", [Route("api", 8, 1)], Start));
        // The first report again (resent on a new stream), then the second again: nothing grows.
        Assert.False(traffic.Apply("w1", "i1", [Route("api", 5, 1), Backend("a", 5)], Start));
        Assert.False(traffic.Apply("w1", "i1", [Route("api", 8, 1)], Start));

        var report = Report(traffic);
        Assert.Equal(9, report.Totals.Requests);
        Assert.Equal(8, Class(report.Totals, "2xx"));
        Assert.Equal(1, Class(report.Totals, "5xx"));
        Assert.Equal(5, Class(report.Backends.Single(b => b.Backend == "a").Traffic, "2xx"));
        Assert.Equal(80, report.Totals.BytesIn);
        Assert.Equal(7.0, report.Totals.Latency.MeanMs);
    }

    [Fact]
    public void Workers_add_up_and_each_is_shown_on_its_own()
    {
        var traffic = new TenantTraffic(new TenantTrafficState());
        traffic.Apply("w1", "i1", [Route("api", 3, 0), Route("site", 1, 1)], Start);
        traffic.Apply("w2", "j1", [Route("api", 4, 2)], Start);

        var report = Report(traffic);
        Assert.Equal(11, report.Totals.Requests);
        Assert.Equal(7, Class(report.Routes.Single(r => r.Route == "api").Traffic, "2xx"));
        Assert.Equal(2, Class(report.Routes.Single(r => r.Route == "api").Traffic, "5xx"));
        Assert.Equal(5, report.Workers.Single(w => w.Worker == "w1").Traffic.Requests);
        Assert.Equal(6, report.Workers.Single(w => w.Worker == "w2").Traffic.Requests);
    }

    [Fact]
    public void A_restarted_worker_counts_from_zero_on_top_of_its_previous_instance_whose_late_reports_are_ignored()
    {
        var traffic = new TenantTraffic(new TenantTrafficState());
        traffic.Apply("w1", "old", [Route("api", 10, 0)], Start);
        // The process restarts: a new instance starts its counters again.
        traffic.Apply("w1", "new", [Route("api", 2, 0)], Start);
        Assert.Equal(12, Report(traffic).Totals.Requests);
        // A late report of the old instance (still in flight on its old stream) changes nothing.
        Assert.False(traffic.Apply("w1", "old", [Route("api", 11, 0)], Start));
        traffic.Apply("w1", "new", [Route("api", 3, 0)], Start);

        var report = Report(traffic);
        Assert.Equal(13, report.Totals.Requests);
        Assert.Equal(13, report.Workers.Single().Traffic.Requests);
        Assert.Single(traffic.State.Live);
    }

    [Fact]
    public void A_route_removed_and_added_again_counts_its_new_epoch_on_top_of_the_old()
    {
        var traffic = new TenantTraffic(new TenantTrafficState());
        traffic.Apply("w1", "i1", [Route("api", 6, 0, epoch: 1)], Start);
        traffic.Apply("w1", "i1", [Route("api", 1, 0, epoch: 9)], Start);
        Assert.Equal(7, Report(traffic).Routes.Single().Traffic.Requests);
    }

    [Fact]
    public void Rates_are_the_growth_over_the_window_per_second()
    {
        var traffic = new TenantTraffic(new TenantTrafficState());
        var rates = new RateWindow(TimeSpan.FromMinutes(1));
        traffic.Apply("w1", "i1", [Route("api", 100, 0)], Start);
        rates.Sample(Start, traffic.RateTotals());
        traffic.Apply("w1", "i1", [Route("api", 150, 10)], Start.AddSeconds(10));
        rates.Sample(Start.AddSeconds(10), traffic.RateTotals());

        var report = traffic.Report("acme", rates);
        Assert.Equal(6, report.Totals.RequestsPerSecond);
        Assert.Equal(5, report.Totals.RatePerStatusClass["2xx"]);
        Assert.Equal(1, report.Totals.RatePerStatusClass["5xx"]);
        Assert.Equal(6, report.Routes.Single().Traffic.RequestsPerSecond);

        // Samples older than the window stop counting: two minutes without growth is a rate of 0.
        rates.Sample(Start.AddSeconds(130), traffic.RateTotals());
        rates.Sample(Start.AddSeconds(131), traffic.RateTotals());
        Assert.Equal(0, traffic.Report("acme", rates).Totals.RequestsPerSecond);
    }

    [Fact]
    public void A_removed_route_and_backend_leave_the_report_but_the_tenant_keeps_the_routes_requests_and_late_reports_are_ignored()
    {
        var traffic = new TenantTraffic(new TenantTrafficState());
        traffic.Apply("w1", "i1", [Route("api", 5, 1), Route("site", 2, 0), Backend("a", 5), Backend("b", 2)], Start);
        // A restarted worker: its first instance's counts are folded, and must go too.
        traffic.Apply("w1", "i2", [Route("api", 1, 0)], Start);

        Assert.True(traffic.Forget(["r/api", "b/web/a"], Start));

        var report = Report(traffic);
        Assert.Equal(["site"], report.Routes.Select(r => r.Route));
        Assert.Equal(["b"], report.Backends.Select(b => b.Backend));
        Assert.Equal(9, report.Totals.Requests);
        Assert.DoesNotContain(traffic.State.Live.Keys, k => k.StartsWith("r/api|", StringComparison.Ordinal) || k.StartsWith("b/web/a|", StringComparison.Ordinal));
        Assert.DoesNotContain(traffic.State.Folded.Keys, k => k.StartsWith("r/api|", StringComparison.Ordinal));

        // The worker's final report of the removed series, arriving late, brings nothing back.
        Assert.False(traffic.Apply("w1", "i2", [Route("api", 3, 0)], Start.AddSeconds(5)));
        Assert.Equal(["site"], Report(traffic).Routes.Select(r => r.Route));
        // A route created again under the name is a new series (a new epoch), and counts.
        Assert.True(traffic.Apply("w1", "i2", [Route("api", 1, 0, epoch: 9)], Start.AddSeconds(6)));
        Assert.Equal(["api", "site"], Report(traffic).Routes.Select(r => r.Route));

        // A cluster's removal takes all its backends; the ignored keys are forgotten after a while.
        Assert.True(traffic.Forget(["b/web/"], Start.AddSeconds(7)));
        Assert.Empty(Report(traffic).Backends);
        traffic.Forget([], Start + TenantTraffic.ForgottenKept + TimeSpan.FromSeconds(8));
        Assert.Empty(traffic.State.Forgotten);
    }

    [Fact]
    public void A_worker_s_final_report_of_a_removed_route_ends_its_series_and_keeps_its_requests_in_the_tenant_s_totals()
    {
        var traffic = new TenantTraffic(new TenantTrafficState());
        traffic.Apply("w1", "i1", [Route("api", 5, 0), Route("site", 1, 0)], Start);

        Assert.True(traffic.Apply("w1", "i1", [Route("api", 7, 0) with { Removed = true }, Route("gone", 2, 0) with { Removed = true }], Start));

        var report = Report(traffic);
        Assert.Equal(["site"], report.Routes.Select(r => r.Route));
        Assert.Equal(10, report.Totals.Requests);
        // Repeated, it counts nothing more.
        Assert.False(traffic.Apply("w1", "i1", [Route("api", 7, 0) with { Removed = true }], Start));
        Assert.Equal(10, Report(traffic).Totals.Requests);
    }

    [Fact]
    public void Workers_gone_past_the_expiry_are_folded_together_and_forgotten_so_worker_churn_does_not_grow_the_state()
    {
        var traffic = new TenantTraffic(new TenantTrafficState());
        for (var i = 0; i < 50; i++)
        {
            traffic.Apply($"autoscaled-{i}", "i1", [Route("api", 2, 0)], Start);
            traffic.Apply($"autoscaled-{i}", "i2", [Route("api", 1, 0)], Start);
        }
        traffic.Apply("current", "c1", [Route("api", 4, 0)], Start.AddHours(2));

        Assert.True(traffic.RetireWorkers(Start.AddHours(1)));

        Assert.Equal(["current"], traffic.State.WorkerSeen.Keys);
        Assert.Equal(["current"], traffic.State.Instances.Keys);
        Assert.DoesNotContain(traffic.State.EndedInstances.Keys, k => k != "current");
        var report = Report(traffic);
        Assert.Equal(154, report.Totals.Requests);
        Assert.Equal([TenantTraffic.DepartedWorkers, "current"], report.Workers.Select(w => w.Worker));
        Assert.Equal(150, report.Workers.Single(w => w.Worker == TenantTraffic.DepartedWorkers).Traffic.Requests);
        Assert.True(traffic.State.Live.Count + traffic.State.Folded.Count <= 3, $"{traffic.State.Live.Count + traffic.State.Folded.Count} entries");
        Assert.False(traffic.RetireWorkers(Start.AddHours(1)));
    }
}
