using Microsoft.AspNetCore.Http;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Routing;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Tests.Routing;

public sealed class RouteTableTests
{
    private static readonly ClusterSlot Web = new(ResourceKey.OfCluster("acme", "web"));

    /// <summary>What the tenants of these tests claim.</summary>
    private static readonly Dictionary<string, IReadOnlyList<string>> Claims = new()
    {
        ["acme"] = ["acme.test", "*.acme.test"],
        ["beta"] = ["beta.test"],
    };

    private static CompiledRoute Route(string id, string prefix = "/", string[]? hosts = null, string[]? methods = null,
        Dictionary<string, string>? headers = null, int priority = 0, bool strip = false, string tenant = "acme") => new()
    {
        Id = ResourceKey.OfRoute(tenant, id),
        Name = $"{tenant}/{id}",
        Cluster = Web,
        Hosts = hosts ?? [.. Claims[tenant]],
        Prefix = SnapshotCompiler.NormalizePrefix(prefix),
        Methods = methods ?? [],
        Headers = [.. (headers ?? []).OrderBy(h => h.Key, StringComparer.Ordinal)],
        Priority = priority,
        StripPrefix = strip,
    };

    private static RouteTable Table(params CompiledRoute[] routes) => RouteTable.Empty.WithClaims(Claims).With([], routes);

    private static string? Match(RouteTable table, string host, string path, string method = "GET", (string, string)? header = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString(host);
        context.Request.Path = path;
        context.Request.Method = method;
        if (header is { } h)
            context.Request.Headers[h.Item1] = h.Item2;
        return table.Match(context.Request)?.Id.Id;
    }

    [Theory]
    [InlineData("/api", "api")]
    [InlineData("/api/", "api")]
    [InlineData("/api/v1/users", "v1")]
    [InlineData("/API/V1", "v1")]
    [InlineData("/apix", "root")]
    [InlineData("/", "root")]
    [InlineData("", "root")]
    public void Longest_prefix_on_a_segment_boundary_wins(string path, string expected)
    {
        var table = Table(Route("root", "/"), Route("api", "/api"), Route("v1", "/api/v1/"));

        Assert.Equal(expected, Match(table, "acme.test", path));
    }

    [Fact]
    public void Exact_host_wins_over_wildcard_and_the_longest_wildcard_first()
    {
        var table = Table(
            Route("exact", hosts: ["a.acme.test"]),
            Route("wild", hosts: ["*.acme.test"]),
            Route("deep", hosts: ["*.b.acme.test"]),
            Route("apex", hosts: ["acme.test"]));

        Assert.Equal("exact", Match(table, "a.acme.test", "/"));
        Assert.Equal("exact", Match(table, "A.ACME.test.", "/x"));
        Assert.Equal("wild", Match(table, "c.acme.test", "/"));
        Assert.Equal("deep", Match(table, "x.b.acme.test", "/"));
        Assert.Equal("wild", Match(table, "x.y.acme.test", "/"));
        Assert.Equal("apex", Match(table, "acme.test", "/"));
        Assert.Null(Match(table, "other.test", "/"));
    }

    [Fact]
    public void An_exact_hosts_routes_that_miss_fall_through_to_the_same_tenants_wildcard_routes()
    {
        var table = Table(Route("api", "/api", hosts: ["a.acme.test"]), Route("wild", "/", hosts: ["*.acme.test"]));

        Assert.Equal("api", Match(table, "a.acme.test", "/api/x"));
        Assert.Equal("wild", Match(table, "a.acme.test", "/web"));
    }

    [Fact]
    public void A_host_no_tenant_claims_matches_nothing()
    {
        var table = Table(Route("root", "/"), Route("beta-root", "/", tenant: "beta"));

        Assert.Null(Match(table, "unclaimed.test", "/"));
        Assert.Null(table.OwnerOf("unclaimed.test"));
        Assert.Equal("acme", table.OwnerOf("x.y.acme.test"));
        Assert.Equal("beta", table.OwnerOf("BETA.test."));
    }

    [Fact]
    public void A_tenant_from_older_data_without_host_names_keeps_serving_the_hosts_nobody_claims_and_no_others()
    {
        var legacy = Route("old", "/", hosts: [RouteTable.UnclaimedHosts], tenant: "legacy");
        var table = RouteTable.Empty.WithClaims(new Dictionary<string, IReadOnlyList<string>>(Claims) { ["legacy"] = [RouteTable.UnclaimedHosts] })
            .With([], [Route("api", "/api", hosts: ["acme.test"]), legacy]);

        Assert.Equal("old", Match(table, "unclaimed.test", "/anything"));
        Assert.Equal("legacy", table.OwnerOf("unclaimed.test"));
        // A host another tenant claims is that tenant's alone, even where it has no route.
        Assert.Equal("api", Match(table, "acme.test", "/api"));
        Assert.Null(Match(table, "acme.test", "/web"));
        // Once an operator gives the tenant host names, unclaimed hosts match nothing again.
        var resolved = table.WithClaims(new Dictionary<string, IReadOnlyList<string>> { ["legacy"] = ["legacy.test"] });
        Assert.Null(resolved.OwnerOf("unclaimed.test"));
    }

    [Fact]
    public void A_path_a_tenant_does_not_route_is_not_matched_by_another_tenants_catch_all()
    {
        var table = Table(Route("api", "/api", hosts: ["acme.test"]), Route("catch-all", "/", tenant: "beta"));

        Assert.Equal("api", Match(table, "acme.test", "/api"));
        Assert.Null(Match(table, "acme.test", "/web"));
        Assert.Equal("catch-all", Match(table, "beta.test", "/web"));
    }

    [Fact]
    public void A_route_naming_a_host_another_tenant_owns_never_matches_it()
    {
        var table = Table(Route("api", "/api", hosts: ["acme.test"]), Route("thief", "/api/v1", hosts: ["acme.test"], priority: 100, tenant: "beta"));

        Assert.Equal("api", Match(table, "acme.test", "/api/v1/users"));
    }

    [Fact]
    public void A_change_of_claims_moves_a_hosts_requests_to_its_new_owner()
    {
        var before = Table(Route("acme-root", "/", hosts: ["shared.test"]), Route("beta-root", "/", hosts: ["shared.test"], tenant: "beta"));
        Assert.Null(Match(before, "shared.test", "/"));

        var acmeOwns = before.WithClaims(new Dictionary<string, IReadOnlyList<string>> { ["acme"] = ["shared.test"] });
        Assert.Equal("acme-root", Match(acmeOwns, "shared.test", "/"));
        Assert.Null(Match(acmeOwns, "acme.test", "/"));

        var betaOwns = acmeOwns.WithClaims(new Dictionary<string, IReadOnlyList<string>> { ["acme"] = [], ["beta"] = ["shared.test"] });
        Assert.Equal("beta-root", Match(betaOwns, "shared.test", "/"));
        Assert.DoesNotContain("acme", betaOwns.ClaimingTenants);
    }

    [Fact]
    public void A_host_two_tenants_claim_in_existing_data_goes_to_one_of_them_on_every_worker()
    {
        var claims = new Dictionary<string, IReadOnlyList<string>> { ["beta"] = ["both.test"], ["acme"] = ["both.test"] };
        var table = RouteTable.Empty.WithClaims(claims).With([], [Route("b", hosts: ["both.test"], tenant: "beta"), Route("a", hosts: ["both.test"])]);

        Assert.Equal("a", Match(table, "both.test", "/"));
    }

    [Fact]
    public void Matching_a_request_allocates_nothing()
    {
        var table = Table(Route("api", "/api", hosts: ["a.acme.test"]), Route("wild", "/", hosts: ["*.acme.test"]));
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString("x.b.acme.test");
        context.Request.Path = "/api/users/1";
        context.Request.Method = "GET";

        Assert.Equal("wild", table.Match(context.Request)?.Id.Id);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
            table.Match(context.Request);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Fact]
    public void Without_any_route_of_the_host_or_path_nothing_matches()
    {
        var table = Table(Route("api", "/api", hosts: ["acme.test"]));

        Assert.Null(Match(table, "other.test", "/api"));
        Assert.Null(Match(table, "acme.test", "/web"));
    }

    [Fact]
    public void Routes_constrained_by_method_or_header_are_tried_before_the_rest_then_by_priority()
    {
        var table = Table(
            Route("plain", "/api"),
            Route("high", "/api", priority: 5),
            Route("get", "/api", methods: ["GET"]),
            Route("canary", "/api", methods: ["GET"], headers: new() { ["x-canary"] = "1" }));

        Assert.Equal("canary", Match(table, "acme.test", "/api", "GET", ("X-Canary", "1")));
        Assert.Equal("get", Match(table, "acme.test", "/api", "get", ("X-Canary", "0")));
        Assert.Equal("high", Match(table, "acme.test", "/api", "POST"));
    }

    [Fact]
    public void Non_standard_methods_match()
    {
        var table = Table(Route("purge", methods: ["PURGE"]));

        Assert.Equal("purge", Match(table, "acme.test", "/", "PURGE"));
        Assert.Null(Match(table, "acme.test", "/", "GET"));
    }

    [Fact]
    public void A_change_makes_a_new_table_and_leaves_the_old_one_as_it_was()
    {
        var api = Route("api", "/api", hosts: ["acme.test"]);
        var before = Table(api, Route("web", "/web", hosts: ["acme.test"]));

        var moved = Route("api", "/v2", hosts: ["*.acme.test"]);
        var after = before.With([api], [moved]);

        Assert.Equal("api", Match(before, "acme.test", "/api"));
        Assert.Null(Match(after, "acme.test", "/api"));
        Assert.Equal("api", Match(after, "x.acme.test", "/v2"));
        Assert.Equal("web", Match(after, "acme.test", "/web"));
        Assert.Equal(2, after.Count);

        var empty = after.With([moved, Route("web", "/web", hosts: ["acme.test"])], []);
        Assert.Equal(0, empty.Count);
        Assert.Null(Match(empty, "acme.test", "/web"));
    }

    [Theory]
    [InlineData("/api", false, "/api/x", "/api/x")]
    [InlineData("/api", true, "/api/x", "/x")]
    [InlineData("/api", true, "/API/x", "/x")]
    [InlineData("/api/", true, "/api", "")]
    [InlineData("/", true, "/x", "/x")]
    public void Backend_path_drops_the_prefix_only_when_the_route_strips_it(string prefix, bool strip, string path, string expected)
    {
        Assert.Equal(expected, Route("r", prefix, strip: strip).BackendPath(path).Value ?? "");
    }
}
