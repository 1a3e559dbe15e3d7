using System.Collections.Immutable;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Pipeline;
using ProxyPlatform.DataPlane.Routing;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.RequestPathParts;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Tests.Pipeline;

public sealed class RouteMatchTests
{
    private static ProxyRuntime Serving(CompiledRoute route) => new(1, RouteTable.Empty.WithClaims(new Dictionary<string, IReadOnlyList<string>> { ["acme"] = ["acme.test"] }).With([], [route]),
        ImmutableDictionary<ResourceKey, CompiledRoute>.Empty, ImmutableDictionary<ResourceKey, ClusterRuntime>.Empty);

    [Fact]
    public async Task Without_a_configuration_the_answer_is_503_no_configuration_with_Retry_After()
    {
        var context = Request();

        Assert.Null(RouteMatch.Find(null, context.Request, out var unmatched));

        await unmatched.WriteAsync(context);
        Assert.Equal(503, context.Response.StatusCode);
        Assert.Equal("no-configuration", ProblemType(context));
        Assert.Equal("1", context.Response.Headers.RetryAfter);
    }

    [Fact]
    public async Task A_request_no_route_matches_is_answered_404_no_route_naming_what_was_asked()
    {
        var route = Route(null, prefix: "/api");
        var context = Request("DELETE", "/web/x");

        Assert.Null(RouteMatch.Find(Serving(route), context.Request, out var unmatched));

        await unmatched.WriteAsync(context);
        Assert.Equal(404, context.Response.StatusCode);
        Assert.Equal("no-route", ProblemType(context));
        Assert.Contains("DELETE acme.test/web/x", ResponseText(context), StringComparison.Ordinal);
        Assert.False(context.Response.Headers.ContainsKey("Retry-After"));
    }

    [Fact]
    public async Task A_request_for_a_host_no_tenant_claims_is_answered_404_unknown_host()
    {
        var context = Request("GET", "/api");
        context.Request.Host = new Microsoft.AspNetCore.Http.HostString("nobody.test");

        Assert.Null(RouteMatch.Find(Serving(Route(null, prefix: "/")), context.Request, out var unmatched));

        await unmatched.WriteAsync(context);
        Assert.Equal(404, context.Response.StatusCode);
        Assert.Equal("unknown-host", ProblemType(context));
    }

    [Fact]
    public void A_matching_request_gets_its_route_without_allocating()
    {
        var route = Route(null, prefix: "/api");
        var runtime = Serving(route);
        var context = Request("GET", "/api/users");

        Assert.Same(route, RouteMatch.Find(runtime, context.Request, out _));
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
            RouteMatch.Find(runtime, context.Request, out _);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
