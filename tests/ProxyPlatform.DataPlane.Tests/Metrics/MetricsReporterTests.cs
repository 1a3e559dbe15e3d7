using System.Threading.Channels;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Resources;
using ProxyPlatform.Testing;

namespace ProxyPlatform.DataPlane.Tests.Metrics;

public sealed class MetricsReporterTests
{
    private static readonly DataPlaneOptions Options = new() { WorkerId = "w", DataDir = "/tmp/unused", MetricsInterval = TimeSpan.FromMilliseconds(20) };

    [Fact]
    public async Task Reports_carry_cumulative_values_of_changed_series_and_a_removed_series_once_with_its_final_values()
    {
        var registry = new TrafficRegistry();
        var api = registry.Route(ResourceKey.OfRoute("acme", "api"), ResourceKey.OfCluster("acme", "web"));
        var quiet = registry.Route(ResourceKey.OfRoute("acme", "quiet"), ResourceKey.OfCluster("acme", "web"));
        var reports = Channel.CreateUnbounded<MetricsReport>();
        using var stream = new CancellationTokenSource();
        var reporter = new MetricsReporter(registry, Options, TimeProvider.System);

        // Recorded before the reporter starts, so that no report can fall between the two.
        api.Counters.Record(200, 0, 0, 10);
        api.Counters.Record(503, 0, 0, 10);
        var running = reporter.RunAsync((message, _) => reports.Writer.WriteAsync(message.Metrics).AsTask(), stream.Token);
        var first = await NextWithAsync(reports, "api");
        var sample = first.Series.Single();
        Assert.Equal(SeriesKind.Route, sample.Kind);
        Assert.Equal(("acme", "api", "web"), (sample.Tenant, sample.Route, sample.Cluster));
        Assert.Equal([0UL, 1, 0, 0, 1], sample.RequestsByClass);
        Assert.False(sample.Removed);

        // The route is removed after one more request: its final values go out once, then it is gone.
        // A report may fall between the request and the removal: it carries the request, not yet removed.
        api.Counters.Record(404, 0, 0, 10);
        registry.RetireRoute(ResourceKey.OfRoute("acme", "api"));
        var last = (await NextWithAsync(reports, "api", removed: true)).Series.Single(s => s.Route == "api");
        Assert.Equal([0UL, 1, 0, 1, 1], last.RequestsByClass);
        // The reporter drops the series once the send that carried it has completed, which is just
        // after the report reached this test's channel.
        await Eventually.Async(() => !registry.All().Contains(api), null, () => "the removed route's series is still in the registry");
        Assert.Contains(quiet, registry.All());

        // Only changes are reported: a later report has the quiet route once it has traffic, and never api again.
        quiet.Counters.Record(200, 0, 0, 10);
        var later = await NextWithAsync(reports, "quiet");
        Assert.DoesNotContain(later.Series, s => s.Route == "api");

        await stream.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
    }

    [Fact]
    public async Task A_series_removed_while_a_report_is_being_sent_is_reported_removed_with_its_final_values_next_time()
    {
        var registry = new TrafficRegistry();
        var api = registry.Route(ResourceKey.OfRoute("acme", "api"), ResourceKey.OfCluster("acme", "web"));
        api.Counters.Record(200, 0, 0, 10);
        var reports = Channel.CreateUnbounded<MetricsReport>();
        using var stream = new CancellationTokenSource();
        var reporter = new MetricsReporter(registry, Options, TimeProvider.System);
        var sends = 0;
        var running = reporter.RunAsync((message, _) =>
        {
            // During the first send, after the reporter has read the series: one more request, then the
            // route is removed, as a configuration update applied at that moment would.
            if (Interlocked.Increment(ref sends) == 1)
            {
                api.Counters.Record(503, 0, 0, 10);
                registry.RetireRoute(ResourceKey.OfRoute("acme", "api"));
            }
            return reports.Writer.WriteAsync(message.Metrics).AsTask();
        }, stream.Token);

        var first = (await NextWithAsync(reports, "api")).Series.Single();
        Assert.False(first.Removed);
        Assert.Equal([0UL, 1, 0, 0, 0], first.RequestsByClass);
        var last = (await NextWithAsync(reports, "api", removed: true)).Series.Single();
        Assert.Equal([0UL, 1, 0, 0, 1], last.RequestsByClass);
        await Eventually.Async(() => !registry.All().Contains(api), null, () => "the removed route's series is still in the registry");

        await stream.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
    }

    private static async Task<MetricsReport> NextWithAsync(Channel<MetricsReport> reports, string route, bool removed = false)
    {
        using var timeout = new CancellationTokenSource(Eventually.Patience);
        while (true)
        {
            var report = await reports.Reader.ReadAsync(timeout.Token);
            if (report.Series.Any(s => s.Route == route && (!removed || s.Removed)))
                return report;
        }
    }
}
