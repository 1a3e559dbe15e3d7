using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Metrics;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.ControlPlane.Tests.Metrics;

/// <summary>What a node counts of a worker's reports for its pool's request rate (the autoscaler's input).</summary>
public sealed class PoolRateTests
{
    private static readonly WorkerIdentity Worker = new("w1", "default", "i1", new PoolFeed("default", grains: null!, NullLogger.Instance));

    private static ReceivedTraffic Received() =>
        new(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());

    private static MetricsReport Report(long readAtMs, params (string Route, ulong Ok, ulong Failed, bool Removed)[] routes)
    {
        var report = new MetricsReport { ReadAtUnixMs = readAtMs };
        foreach (var (route, ok, failed, removed) in routes)
        {
            var sample = new Protos.DataPlane.TrafficSample { Kind = SeriesKind.Route, Tenant = "acme", Route = route, Cluster = "web", Epoch = 1, Removed = removed };
            sample.RequestsByClass.Add([0, ok, 0, 0, failed]);
            report.Series.Add(sample);
        }
        // A backend's attempts are not requests of the pool's clients: they never count.
        var backend = new Protos.DataPlane.TrafficSample { Kind = SeriesKind.Backend, Tenant = "acme", Cluster = "web", Backend = "b", Epoch = 1 };
        backend.RequestsByClass.Add([0, 1_000_000, 0, 0, 0]);
        report.Series.Add(backend);
        return report;
    }

    [Fact]
    public void The_first_report_of_a_stream_sets_the_baseline_and_later_ones_count_new_requests_over_the_workers_interval()
    {
        using var received = Received();
        Assert.Null(received.Take(Worker, Report(10_000, ("api", 100, 5, false))));
        // 20 more on api (every status counts), 7 on a route first seen now, over 2 s of the worker's clock.
        Assert.Equal((27L, 2.0), received.Take(Worker, Report(12_000, ("api", 115, 10, false), ("web", 7, 0, false))));
        // Only changed series are reported: an absent one adds nothing; a removed one's last requests count.
        Assert.Equal((3L, 0.5), received.Take(Worker, Report(12_500, ("web", 10, 0, true))));
        // A report read no later than the last one has no interval to divide by.
        Assert.Null(received.Take(Worker, Report(12_500, ("api", 200, 10, false))));
    }

    [Fact]
    public void A_worker_that_reconnects_starts_a_new_baseline()
    {
        using var received = Received();
        received.Take(Worker, Report(1_000, ("api", 10, 0, false)));
        received.Forget(Worker);
        Assert.Null(received.Take(Worker, Report(2_000, ("api", 50, 0, false))));
        Assert.Equal((5L, 1.0), received.Take(Worker, Report(3_000, ("api", 55, 0, false))));
    }
}
