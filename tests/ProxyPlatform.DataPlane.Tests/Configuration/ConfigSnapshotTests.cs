using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.Protos.DataPlane;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.Resources;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Tests.Configuration;

public sealed class ConfigSnapshotTests
{
    private static ConfigSnapshot Applied(ConfigSnapshot snapshot, ConfigUpdate update)
    {
        Assert.True(snapshot.Precedes(update));
        var next = snapshot.Apply(update, out var rejected);
        Assert.Empty(rejected);
        return next;
    }

    [Fact]
    public void Full_snapshot_holds_every_resource_by_kind_and_key_at_its_revision()
    {
        var snapshot = Applied(ConfigSnapshot.Empty, AcmeSnapshot(revision: 4));

        Assert.Equal(4, snapshot.Revision);
        Assert.Equal(["acme.test"], snapshot.Tenants[ResourceKey.OfTenant("acme")].Spec.Hostnames);
        Assert.Equal("http://127.0.0.1:9", snapshot.Clusters[ResourceKey.OfCluster("acme", "web")].Spec.Backends["a"].Address);
        Assert.Equal("/api", snapshot.Routes[ResourceKey.OfRoute("acme", "api")].Spec.Match.PathPrefix);
        Assert.Equal(4, snapshot.Routes[ResourceKey.OfRoute("acme", "api")].Revision);
    }

    [Fact]
    public void Full_snapshot_replaces_everything_that_was_there()
    {
        var before = Applied(ConfigSnapshot.Empty, AcmeSnapshot(revision: 1));

        var after = Applied(before, Snapshot(9, Tenant("other", new TenantSpec(), 9)));

        Assert.Equal(9, after.Revision);
        Assert.Equal([ResourceKey.OfTenant("other")], after.Tenants.Keys);
        Assert.Empty(after.Clusters);
        Assert.Empty(after.Routes);
    }

    [Fact]
    public void Delta_replaces_upserted_resources_by_key_and_keeps_the_rest()
    {
        var before = Applied(ConfigSnapshot.Empty, AcmeSnapshot(revision: 1));

        var after = Applied(before, Delta(1, 2,
        [
            Route("acme", "api", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = "/v2" }, Cluster = "web" }, 2),
            Route("acme", "new", new RouteSpec { Cluster = "web" }, 2),
            // The same route ID in another tenant is another route.
            Route("other", "api", new RouteSpec { Cluster = "web" }, 2),
        ]));

        Assert.Equal(2, after.Revision);
        Assert.Equal("/v2", after.Routes[ResourceKey.OfRoute("acme", "api")].Spec.Match.PathPrefix);
        Assert.Equal(2, after.Routes[ResourceKey.OfRoute("acme", "api")].Revision);
        Assert.Equal(3, after.Routes.Count);
        Assert.Same(before.Clusters[ResourceKey.OfCluster("acme", "web")].Spec, after.Clusters[ResourceKey.OfCluster("acme", "web")].Spec);
        Assert.Same(before.Tenants[ResourceKey.OfTenant("acme")].Spec, after.Tenants[ResourceKey.OfTenant("acme")].Spec);
    }

    [Fact]
    public void Delta_removals_delete_by_kind_and_key()
    {
        var before = Applied(ConfigSnapshot.Empty, AcmeSnapshot(revision: 1));

        var after = Applied(before, Delta(1, 2, [],
        [
            Key(ResourceType.Route, "acme", "api"),
            Key(ResourceType.Cluster, "acme", "web"),
            Key(ResourceType.Route, "acme", "never-existed"),
        ]));

        Assert.Empty(after.Routes);
        Assert.Empty(after.Clusters);
        Assert.True(after.Tenants.ContainsKey(ResourceKey.OfTenant("acme")));
    }

    [Fact]
    public void Applying_leaves_the_previous_snapshot_untouched()
    {
        var before = Applied(ConfigSnapshot.Empty, AcmeSnapshot(revision: 1));

        Applied(before, Delta(1, 2, [], [Key(ResourceType.Route, "acme", "api")]));

        Assert.Equal(1, before.Revision);
        Assert.True(before.Routes.ContainsKey(ResourceKey.OfRoute("acme", "api")));
    }

    [Fact]
    public void Delta_from_another_revision_than_the_applied_one_does_not_follow()
    {
        var applied = Applied(ConfigSnapshot.Empty, AcmeSnapshot(revision: 5));

        Assert.False(applied.Precedes(Delta(4, 6, [])));
        Assert.False(ConfigSnapshot.Empty.Precedes(Delta(5, 6, [])));
        Assert.True(applied.Precedes(Delta(5, 6, [])));
        Assert.True(applied.Precedes(Snapshot(3)));
    }

    [Fact]
    public void Resource_whose_json_does_not_decode_is_rejected_by_name_and_the_rest_applied()
    {
        var before = Applied(ConfigSnapshot.Empty, AcmeSnapshot(revision: 1));
        var update = Delta(1, 2, [
            Json(ResourceType.Route, "acme", "api", """{"match":{"pathPrefix":"/x"},"cluster":"web","colour":"red"}""", 2),
            Route("acme", "other", new RouteSpec { Cluster = "web" }, 2)]);

        var next = before.Apply(update, out var rejected);

        var rejection = Assert.Single(rejected);
        Assert.Equal((ResourceKey.OfRoute("acme", "api"), 2L), (rejection.Key, rejection.Revision));
        Assert.StartsWith("route acme/api: the spec is not valid JSON for a route", rejection.Reason, StringComparison.Ordinal);
        Assert.Equal(1, next.Routes[ResourceKey.OfRoute("acme", "api")].Revision);
        Assert.True(next.Routes.ContainsKey(ResourceKey.OfRoute("acme", "other")));
    }

    [Fact]
    public void A_full_snapshot_with_an_unreadable_resource_keeps_the_version_served_before()
    {
        var before = Applied(ConfigSnapshot.Empty, AcmeSnapshot(revision: 1));
        var update = Snapshot(2, Json(ResourceType.Route, "acme", "api", "[1]", 2));

        var next = before.Apply(update, out var rejected);

        Assert.Single(rejected);
        Assert.Equal(1, next.Routes[ResourceKey.OfRoute("acme", "api")].Revision);
        Assert.False(next.Tenants.ContainsKey(ResourceKey.OfTenant("acme")));
    }

    [Fact]
    public void Resource_with_an_invalid_key_is_rejected()
    {
        var update = Snapshot(1, Json(ResourceType.Route, "acme", "Not/An-Id", "{}"));

        ConfigSnapshot.Empty.Apply(update, out var rejected);
        Assert.Contains("route acme/Not/An-Id", Assert.Single(rejected).Reason, StringComparison.Ordinal);
    }
}
