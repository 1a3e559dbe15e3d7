using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Tests.Distribution;

/// <summary>
/// The invariants a pool's sequencer checks across resources, from the table of kinds: a resource
/// needs its tenant and what it refers to, and nothing can be removed while something still refers to it.
/// </summary>
public sealed class ConfigBatchTests
{
    private static ConfigEntry Tenant(string t) => new(ResourceKey.OfTenant(t), 0, """{"hostnames":["a.test"]}""");
    private static ConfigEntry Cluster(string t, string c) => new(ResourceKey.OfCluster(t, c), 0, """{"spec":{},"backends":{}}""");
    private static ConfigEntry Route(string t, string r, string cluster) =>
        new(ResourceKey.OfRoute(t, r), 0, $$$"""{"match":{"pathPrefix":"/x","headers":{"cluster":"decoy"}},"cluster":"{{{cluster}}}"}""");
    private static ConfigEntry Health(string t, string c) => new(ResourceKey.HealthOf(t, c), 0, """{"backends":{}}""");
    private static ConfigEntry Removal(ConfigEntry entry) => entry with { Json = null };

    /// <summary>A committed set holding <paramref name="entries"/>, each at the next revision.</summary>
    internal static ConfigSet Committed(params ConfigEntry[] entries)
    {
        var set = new ConfigSet();
        var revision = 0;
        foreach (var entry in entries)
            set.Apply(entry with { Revision = ++revision });
        return set;
    }

    [Fact]
    public void A_route_needs_its_tenant_and_its_cluster_and_the_refusal_names_the_field()
    {
        var batch = new ConfigBatch("default", Committed(Tenant("t")));

        var missing = Assert.Throws<AdminException>(() => batch.Stage([Route("t", "r", "web")]));
        Assert.Equal(AdminErrorKind.Invalid, missing.Kind);
        Assert.Equal("cluster", missing.Errors.Single().Field);
        Assert.Contains("no cluster 'web'", missing.Message, StringComparison.Ordinal);
        Assert.Equal(AdminErrorKind.NotFound, Assert.Throws<AdminException>(() => batch.Stage([Cluster("ghost", "web")])).Kind);

        // The same batch then takes the cluster, and a route to it.
        batch.Stage([Cluster("t", "web")]);
        batch.Stage([Route("t", "r", "web")]);
    }

    [Fact]
    public void A_cluster_used_by_a_route_stays_until_the_route_goes_in_the_same_or_an_earlier_change()
    {
        var set = Committed(Tenant("t"), Cluster("t", "web"), Route("t", "r", "web"));

        var used = Assert.Throws<AdminException>(() => new ConfigBatch("default", set).Stage([Removal(Cluster("t", "web"))]));
        Assert.Equal(AdminErrorKind.Conflict, used.Kind);
        Assert.Contains("route(s) r", used.Message, StringComparison.Ordinal);

        new ConfigBatch("default", set).Stage([Removal(Route("t", "r", "web")), Removal(Cluster("t", "web"))]);
        var batch = new ConfigBatch("default", set);
        batch.Stage([Removal(Route("t", "r", "web"))]);
        batch.Stage([Removal(Cluster("t", "web"))]);
    }

    [Fact]
    public void Verdicts_go_with_their_cluster_and_never_outlive_it()
    {
        var set = Committed(Tenant("t"), Cluster("t", "web"), Health("t", "web"));

        Assert.Throws<AdminException>(() => new ConfigBatch("default", set).Stage([Removal(Cluster("t", "web"))]));
        new ConfigBatch("default", set).Stage([Removal(Cluster("t", "web")), Removal(Health("t", "web"))]);
        Assert.Throws<AdminException>(() => new ConfigBatch("default", set).Stage([Health("t", "gone")]));
    }

    [Fact]
    public void A_tenant_goes_only_once_its_clusters_and_routes_are_gone_and_its_verdicts_do_not_count()
    {
        var set = Committed(Tenant("t"), Cluster("t", "web"), Health("t", "web"), Route("t", "r", "web"));
        Assert.Equal(2, set.OwnedBy("t"));

        var refused = Assert.Throws<AdminException>(() => new ConfigBatch("default", set).Stage([Removal(Tenant("t"))]));
        Assert.Contains("2 resource(s)", refused.Message, StringComparison.Ordinal);

        var batch = new ConfigBatch("default", set);
        batch.Stage([Removal(Route("t", "r", "web"))]);
        batch.Stage([Removal(Cluster("t", "web")), Removal(Health("t", "web"))]);
        batch.Stage([Removal(Tenant("t"))]);
    }

    [Fact]
    public void A_refused_change_stages_nothing_of_itself()
    {
        var batch = new ConfigBatch("default", Committed(Tenant("t")));

        // The cluster comes with a route to a cluster that does not exist: the whole change is refused.
        Assert.Throws<AdminException>(() => batch.Stage([Cluster("t", "web"), Route("t", "r", "nope")]));

        Assert.Throws<AdminException>(() => batch.Stage([Route("t", "r2", "web")]));
    }

    [Fact]
    public void Committing_moves_a_routes_reference_from_its_old_cluster_to_its_new_one()
    {
        var set = Committed(Tenant("t"), Cluster("t", "a"), Cluster("t", "b"), Route("t", "r", "a"));
        set.Apply(Route("t", "r", "b") with { Revision = 10 });

        Assert.Empty(set.ReferrersOf(ResourceKey.OfCluster("t", "a")));
        Assert.Equal([ResourceKey.OfRoute("t", "r")], set.ReferrersOf(ResourceKey.OfCluster("t", "b")));
        new ConfigBatch("default", set).Stage([Removal(Cluster("t", "a"))]);
    }
}
