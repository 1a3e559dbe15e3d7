using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Tests.Distribution;

/// <summary>
/// The tenancy rules as a pool's sequencer checks them within one batch: changes accepted earlier in
/// the batch count against a quota, a refused change counts for nothing, and limits hold staged changes too.
/// </summary>
public sealed class TenancyRulesTests
{
    private static ConfigEntry Tenant(string t, string json) => new(ResourceKey.OfTenant(t), 0, json);
    private static ConfigEntry Cluster(string t, string c, int backends = 0) => new(ResourceKey.OfCluster(t, c), 0,
        ConfigJson.Write(new ClusterDefinition { Backends = Enumerable.Range(0, backends).ToDictionary(i => $"b{i}", _ => new BackendSpec { Address = "http://10.0.0.1" }) }));
    private static ConfigEntry Route(string t, string r, string hosts = "[]", long? body = null) =>
        new(ResourceKey.OfRoute(t, r), 0, $$"""{"match":{"hosts":{{hosts}}},"cluster":"web"{{(body is null ? "" : $",\"maxRequestBodyBytes\":{body}")}}}""");

    private static ConfigSet Committed(params ConfigEntry[] entries) => ConfigBatchTests.Committed(entries);

    [Fact]
    public void Changes_accepted_earlier_in_a_batch_count_against_the_quota_and_refused_ones_do_not()
    {
        var set = Committed(Tenant("t", """{"hostnames":["t.test"],"quotas":{"maxRoutes":2}}"""), Cluster("t", "web"));
        var batch = new ConfigBatch("default", set);

        batch.Stage([Route("t", "r1")]);
        // Refused for a host outside the claims: it must not take a unit of the quota.
        Assert.Equal(AdminErrorKind.Invalid, Assert.Throws<AdminException>(() => batch.Stage([Route("t", "bad", """["x.test"]""")])).Kind);
        batch.Stage([Route("t", "r2")]);
        var over = Assert.Throws<AdminException>(() => batch.Stage([Route("t", "r3")]));
        Assert.Equal(AdminErrorKind.QuotaExceeded, over.Kind);
        Assert.Equal(new QuotaExcess("maxRoutes", 2, 2), over.Quota);
        // Rewriting a route of the batch adds nothing; removing one frees a unit for the next.
        batch.Stage([Route("t", "r1", """["t.test"]""")]);
        batch.Stage([Route("t", "r1") with { Json = null }]);
        batch.Stage([Route("t", "r3")]);
    }

    [Fact]
    public void Defaults_apply_to_a_tenant_without_quotas_and_backends_count_over_all_clusters()
    {
        var set = Committed(Tenant("t", """{"hostnames":["t.test"]}"""), Cluster("t", "web", backends: 2));
        var batch = new ConfigBatch("default", set, new TenantQuotas { MaxBackends = 3, MaxClusters = 5 });

        batch.Stage([Cluster("t", "api", backends: 1)]);
        var over = Assert.Throws<AdminException>(() => batch.Stage([Cluster("t", "more", backends: 1)]));
        Assert.Equal(new QuotaExcess("maxBackends", 3, 3), over.Quota);
        // Fewer backends in a cluster pass, even at the quota.
        batch.Stage([Cluster("t", "web", backends: 1)]);
    }

    [Fact]
    public void A_pool_limit_staged_in_the_batch_holds_the_changes_after_it()
    {
        var set = Committed(Tenant("t", """{"hostnames":["t.test"]}"""), Cluster("t", "web"));
        var batch = new ConfigBatch("edge", set);
        batch.Stage([new ConfigEntry(ResourceKey.OfPool("edge"), 0, """{"limits":{"maxRequestBodyBytes":100,"allowedBackendNetworks":["10.0.0.0/8"]}}""")]);

        var body = Assert.Throws<AdminException>(() => batch.Stage([Route("t", "big", body: 101)]));
        Assert.Equal("maxRequestBodyBytes", body.Errors.Single().Field);
        var network = Assert.Throws<AdminException>(() => batch.Stage([new ConfigEntry(ResourceKey.OfCluster("t", "x"), 0,
            """{"spec":{},"backends":{"meta":{"address":"http://169.254.169.254"}}}""")]));
        Assert.Equal("backends.meta.address", network.Errors.Single().Field);
        batch.Stage([Route("t", "fits", body: 100), Cluster("t", "inside", backends: 1)]);
    }

    [Fact]
    public void A_host_that_older_data_gave_two_tenants_refuses_route_writes_on_it()
    {
        var set = Committed(Tenant("a", """{"hostnames":["shared.test","a.test"]}"""), Tenant("b", """{"hostnames":["*.test"]}"""), Cluster("a", "web"));
        var batch = new ConfigBatch("default", set);

        var refused = Assert.Throws<AdminException>(() => batch.Stage([Route("a", "r", """["shared.test"]""")]));
        Assert.Equal(AdminErrorKind.Conflict, refused.Kind);
        Assert.Contains("'b'", refused.Message.Replace("tenant(s) b", "'b'", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Equal(["b"], set.Tenancy.OtherClaimants("a", "a.test"));
        Assert.Equal(["a"], set.Tenancy.OtherClaimants("b", "*.test"));
    }
}
