using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Tests.Metrics;

public sealed class TrafficRegistryTests
{
    private static readonly ResourceKey Cluster = ResourceKey.OfCluster("acme", "web");

    [Fact]
    public void A_removed_route_or_backend_leaves_the_workers_own_scrape_at_once_and_waits_only_for_its_final_report()
    {
        var registry = new TrafficRegistry();
        var api = registry.Route(ResourceKey.OfRoute("acme", "api"), Cluster);
        var backend = registry.Backend(Cluster, "a");

        registry.RetireRoute(ResourceKey.OfRoute("acme", "api"));
        registry.RetireBackend(Cluster, "a");

        Assert.Empty(registry.Live());
        Assert.Equal(2, registry.All().Count);
        registry.Drop(api);
        registry.Drop(backend);
        Assert.Empty(registry.All());
    }

    [Fact]
    public void Retired_series_awaiting_a_report_that_never_comes_are_bounded()
    {
        var registry = new TrafficRegistry();
        var kept = registry.Route(ResourceKey.OfRoute("acme", "kept"), Cluster);
        for (var i = 0; i < TrafficRegistry.MaxRetired * 3; i++)
        {
            var route = ResourceKey.OfRoute("acme", $"r{i}");
            registry.Route(route, Cluster);
            registry.RetireRoute(route);
        }

        Assert.True(registry.All().Count <= TrafficRegistry.MaxRetired + 1, $"{registry.All().Count} series held");
        Assert.Contains(kept, registry.Live());
        // The newest removals are the ones still waiting for their final report.
        Assert.Contains(registry.All(), s => s.Route == $"r{TrafficRegistry.MaxRetired * 3 - 1}");
    }
}
