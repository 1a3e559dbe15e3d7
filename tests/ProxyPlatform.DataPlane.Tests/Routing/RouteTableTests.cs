using Microsoft.AspNetCore.Http;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Routing;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Tests.Routing;

public sealed class RouteTableTests
{
    private static readonly ClusterSlot Web = new(ResourceKey.OfCluster("acme", "web"));

    private static CompiledRoute Route(string id, string prefix = "/", string[]? hosts = null, string[]? methods = null,
        Dictionary<string, string>? headers = null, int priority = 0, bool strip = false) => new()
    {
        Id = ResourceKey.OfRoute("acme", id),
        Name = $"acme/{id}",
        Cluster = Web,
        Hosts = hosts ?? [],
        Prefix = SnapshotCompiler.NormalizePrefix(prefix),
        Methods = methods ?? [],
        Headers = [.. (headers ?? []).OrderBy(h => h.Key, StringComparer.Ordinal)],
        Priority = priority,
        StripPrefix = strip,
    };

    private static RouteTable Table(params CompiledRoute[] routes) => RouteTable.Empty.With([], routes);

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

        Assert.Equal(expected, Match(table, "any.test", path));
    }

    [Fact]
    public void Exact_host_wins_over_wildcard_and_wildcard_over_any_host()
    {
        var table = Table(
            Route("exact", hosts: ["a.acme.test"]),
            Route("wild", hosts: ["*.acme.test"]),
            Route("deep", hosts: ["*.b.acme.test"]),
            Route("any"));

        Assert.Equal("exact", Match(table, "a.acme.test", "/"));
        Assert.Equal("exact", Match(table, "A.ACME.test.", "/x"));
        Assert.Equal("wild", Match(table, "c.acme.test", "/"));
        Assert.Equal("deep", Match(table, "x.b.acme.test", "/"));
        Assert.Equal("wild", Match(table, "x.y.acme.test", "/"));
        Assert.Equal("any", Match(table, "acme.test", "/"));
        Assert.Equal("any", Match(table, "other.test", "/"));
    }

    [Fact]
    public void Host_without_a_matching_path_falls_back_to_less_specific_hosts()
    {
        var table = Table(Route("api", "/api", hosts: ["acme.test"]), Route("any", "/"));

        Assert.Equal("api", Match(table, "acme.test", "/api/x"));
        Assert.Equal("any", Match(table, "acme.test", "/web"));
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

        Assert.Equal("canary", Match(table, "h", "/api", "GET", ("X-Canary", "1")));
        Assert.Equal("get", Match(table, "h", "/api", "get", ("X-Canary", "0")));
        Assert.Equal("high", Match(table, "h", "/api", "POST"));
    }

    [Fact]
    public void Non_standard_methods_match()
    {
        var table = Table(Route("purge", methods: ["PURGE"]));

        Assert.Equal("purge", Match(table, "h", "/", "PURGE"));
        Assert.Null(Match(table, "h", "/", "GET"));
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
