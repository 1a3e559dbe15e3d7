using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Tests.Distribution;

/// <summary>
/// The shadowing rule as the pool's sequencer checks it (DESIGN.md, "Details: Shadowing"): a change that
/// leaves a route of its tenant fully shadowed — the route written, or one it would hide — is refused
/// naming the routes that shadow it, unless that route allows it; partial overlaps pass.
/// </summary>
public sealed class ShadowingRulesTests
{
    private static ConfigEntry Tenant(string t, string hosts) => new(ResourceKey.OfTenant(t), 0, $$"""{"hostnames":{{hosts}}}""");
    private static ConfigEntry Cluster(string t) => new(ResourceKey.OfCluster(t, "web"), 0, ConfigJson.Write(new ClusterDefinition()));
    private static ConfigEntry Route(string t, string r, string match, int priority = 0, bool allowShadowed = false) =>
        new(ResourceKey.OfRoute(t, r), 0, $$"""{"match":{{match}},"cluster":"web","priority":{{priority}}{{(allowShadowed ? ",\"allowShadowed\":true" : "")}}}""");

    private static (ConfigSet Set, ConfigBatch Batch) Acme(params ConfigEntry[] routes)
    {
        var set = ConfigBatchTests.Committed([Tenant("acme", """["acme.test","*.acme.test"]"""), Cluster("acme"), Tenant("beta", """["beta.test"]"""), Cluster("beta"), .. routes]);
        return (set, new ConfigBatch("default", set, overlapAnalysis: true));
    }

    [Fact]
    public void A_route_written_behind_one_with_the_same_match_is_refused_naming_it()
    {
        var (_, batch) = Acme(Route("acme", "api", """{"pathPrefix":"/api"}""", priority: 1));

        var refused = Assert.Throws<AdminException>(() => batch.Stage([Route("acme", "api2", """{"pathPrefix":"/api/"}""")]));

        Assert.Equal(AdminErrorKind.RouteShadowed, refused.Kind);
        Assert.Equal("acme/api2", refused.Route);
        Assert.Equal(["acme/api"], refused.ShadowedBy);
        Assert.Contains("acme/api", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_route_that_would_hide_an_existing_one_is_refused_unless_the_hidden_route_allows_it()
    {
        var (_, batch) = Acme(Route("acme", "get", """{"pathPrefix":"/api","methods":["GET"]}"""));

        var refused = Assert.Throws<AdminException>(() => batch.Stage([Route("acme", "first", """{"pathPrefix":"/api","methods":["GET","POST"]}""", priority: 5)]));
        Assert.Equal(("acme/get", "acme/first"), (refused.Route, refused.ShadowedBy.Single()));

        // The hidden route lets itself be shadowed; then the same write passes.
        batch.Stage([Route("acme", "get", """{"pathPrefix":"/api","methods":["GET"]}""", allowShadowed: true)]);
        batch.Stage([Route("acme", "first", """{"pathPrefix":"/api","methods":["GET","POST"]}""", priority: 5)]);
    }

    [Fact]
    public void A_route_that_allows_it_may_be_written_behind_another()
    {
        var (_, batch) = Acme(Route("acme", "all", """{}"""));

        batch.Stage([Route("acme", "spare", """{}""", allowShadowed: true)]);
    }

    [Fact]
    public void Partial_overlaps_pass_nested_prefixes_wildcards_methods_headers_and_other_tenants()
    {
        var (_, batch) = Acme(Route("acme", "root", """{}"""));

        batch.Stage([Route("acme", "api", """{"pathPrefix":"/api"}""")]);
        batch.Stage([Route("acme", "exact", """{"hosts":["a.acme.test"]}""")]);
        batch.Stage([Route("acme", "post", """{"methods":["POST"]}""")]);
        batch.Stage([Route("acme", "canary", """{"headers":{"x-canary":"1"}}""")]);
        batch.Stage([Route("beta", "root", """{}""")]);
        // Lower priority than "root" but on a host "root" does not have on its own.
        batch.Stage([Route("acme", "two", """{"hosts":["acme.test","b.acme.test"]}""", priority: -1)]);
    }

    [Fact]
    public void Routes_staged_earlier_in_the_batch_count_and_a_refused_one_does_not()
    {
        var (_, batch) = Acme();

        batch.Stage([Route("acme", "a", """{"pathPrefix":"/x"}""")]);
        Assert.Equal(AdminErrorKind.RouteShadowed, Assert.Throws<AdminException>(() => batch.Stage([Route("acme", "b", """{"pathPrefix":"/x"}""")])).Kind);
        // "b" was refused: "c" below "a" with more constraints is fine, and moving "a" away frees "/x".
        batch.Stage([Route("acme", "c", """{"pathPrefix":"/x","methods":["GET"]}""")]);
        batch.Stage([Route("acme", "a", """{"pathPrefix":"/y"}""")]);
        batch.Stage([Route("acme", "b", """{"pathPrefix":"/x"}""")]);
    }

    [Fact]
    public void One_change_that_writes_both_routes_is_checked_as_a_whole()
    {
        var (_, batch) = Acme();

        var refused = Assert.Throws<AdminException>(() => batch.Stage([
            Route("acme", "one", """{"pathPrefix":"/z"}"""),
            Route("acme", "two", """{"pathPrefix":"/z"}"""),
        ]));
        Assert.Equal(("acme/two", "acme/one"), (refused.Route, refused.ShadowedBy.Single()));
    }

    [Fact]
    public void Without_the_analysis_nothing_is_refused()
    {
        var set = ConfigBatchTests.Committed([Tenant("acme", """["acme.test"]"""), Cluster("acme"), Route("acme", "a", "{}")]);
        new ConfigBatch("default", set, overlapAnalysis: false).Stage([Route("acme", "b", "{}")]);
    }

    [Fact]
    public void The_committed_set_reports_overlaps_with_a_sample_request_for_the_winner()
    {
        var (set, _) = Acme(
            Route("acme", "root", """{}"""),
            Route("acme", "api", """{"pathPrefix":"/api","methods":["GET"]}"""));

        var overlaps = TenantOverlaps.Of(set.Tenancy.RoutesOf("acme"), ResourceKey.OfRoute("acme", "root"));

        var overlap = Assert.Single(overlaps);
        Assert.Equal(("acme/api", "acme/api", "longer-prefix"), (overlap.Route, overlap.Winner, overlap.Rule));
        Assert.Equal(("GET", "/api"), (overlap.SampleRequest!.Method, overlap.SampleRequest.Path));
        Assert.Empty(TenantOverlaps.Of(set.Tenancy.RoutesOf("beta"), ResourceKey.OfRoute("beta", "root")));
    }
}
