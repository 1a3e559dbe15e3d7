using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.EndToEnd.Tests.Routing;

/// <summary>
/// Overlap and shadowing on every route write, through a real control plane and worker: a route that would
/// never answer is refused with 409 naming the route that shadows it (FAILED_PRECONDITION on gRPC) unless it
/// allows it, and GET of a route shows its overlaps with a sample request that really goes to the winner.
/// </summary>
public sealed class OverlapTests
{
    [Fact]
    public async Task A_shadowed_route_is_refused_unless_allowed_and_get_shows_overlaps_whose_sample_reaches_the_winner()
    {
        await using var web = await TestBackend.StartAsync("web-1");
        await using var api = await TestBackend.StartAsync("api-1");
        await using var platform = await Platform.StartAsync("overlap", workers: 1);
        await platform.CreateServiceAsync("ovl", "ovl.test", [web]);
        await platform.PutOkAsync("/v1/tenants/ovl/clusters/api", new { loadBalancing = "RoundRobin" });
        await platform.PutOkAsync("/v1/tenants/ovl/clusters/api/backends/api-1", new { address = api.Address });
        // A partial overlap with "main" (a longer prefix, GET only) is accepted.
        await platform.PutOkAsync("/v1/tenants/ovl/routes/api", new { match = new { pathPrefix = "/api", methods = new[] { "GET" } }, cluster = "api" });

        // The same match, tried after "api" (by name): it would never answer.
        var shadowed = new { match = new { pathPrefix = "/api/", methods = new[] { "GET" } }, cluster = "web" };
        using (var refused = await platform.PutAsync("/v1/tenants/ovl/routes/api-copy", shadowed))
        {
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            var problem = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
            Assert.EndsWith("route-shadowed", problem["type"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Equal("ovl/api-copy", problem["route"]!.GetValue<string>());
            Assert.Equal(["ovl/api"], problem["shadowedBy"]!.AsArray().Select(r => r!.GetValue<string>()));
        }
        using (var missing = await platform.Silos[0].Admin.GetAsync("/v1/tenants/ovl/routes/api-copy"))
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using (var bad = await platform.PutAsync("/v1/tenants/ovl/routes/api-copy?allowShadowed=yes", shadowed))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        // Allowed, it is stored and says so.
        await platform.PutOkAsync("/v1/tenants/ovl/routes/api-copy?allowShadowed=true", shadowed);
        var copy = JsonNode.Parse(await platform.Silos[0].Admin.GetStringAsync("/v1/tenants/ovl/routes/api-copy"))!;
        Assert.True(copy["allowShadowed"]!.GetValue<bool>());

        // GET of "main" shows both overlaps; the sample for "api" goes to "api" through the worker.
        var main = JsonNode.Parse(await platform.Silos[0].Admin.GetStringAsync("/v1/tenants/ovl/routes/main"))!;
        var overlaps = main["overlaps"]!.AsArray();
        Assert.Equal(["ovl/api", "ovl/api-copy"], overlaps.Select(o => o!["route"]!.GetValue<string>()));
        var overlap = overlaps[0]!;
        Assert.Equal(("ovl/api", "longer-prefix"), (overlap["winner"]!.GetValue<string>(), overlap["rule"]!.GetValue<string>()));
        var sample = overlap["sampleRequest"]!;
        Assert.Equal(("GET", "ovl.test", "/api"), (sample["method"]!.GetValue<string>(), sample["host"]!.GetValue<string>(), sample["path"]!.GetValue<string>()));
        // "api-copy" loses every request to "api", so the request the two share goes to "api", not to "api-copy".
        Assert.Null(overlaps[1]!["sampleRequest"]);
        (await platform.Workers[0].WaitForStatusAsync("ovl.test", "/api", 200)).Dispose();
        await Eventually.Async(async () => (await platform.Workers[0].EchoAsync(sample["host"]!.GetValue<string>(), sample["path"]!.GetValue<string>())).Backend,
            backend => backend == "api-1", null, backend => $"the sample request reached {backend}, not the winner's backend api-1");

        // gRPC: the same refusal is FAILED_PRECONDITION naming the route; GetRoute carries the overlaps.
        using var channel = AdminGrpc.Channel(platform);
        var grpc = new AdminPb.Admin.AdminClient(channel);
        var spec = new AdminPb.RouteSpec { Match = new AdminPb.RouteMatch { PathPrefix = "/api" }, Cluster = "web" };
        spec.Match.Methods.Add("GET");
        var grpcRefused = await Assert.ThrowsAsync<RpcException>(async () =>
            await grpc.PutRouteAsync(new AdminPb.PutRouteRequest { Tenant = "ovl", Route = "api-two", Spec = spec }));
        Assert.Equal(StatusCode.FailedPrecondition, grpcRefused.StatusCode);
        Assert.Contains("ovl/api", grpcRefused.Status.Detail, StringComparison.Ordinal);
        spec.AllowShadowed = true;
        await grpc.PutRouteAsync(new AdminPb.PutRouteRequest { Tenant = "ovl", Route = "api-two", Spec = spec });
        var reply = await grpc.GetRouteAsync(new AdminPb.RouteRef { Tenant = "ovl", Route = "main" });
        Assert.Contains(reply.Overlaps, o => o.Route == "ovl/api" && o.Winner == "ovl/api" && o.SampleRequest.Path == "/api");
    }
}
