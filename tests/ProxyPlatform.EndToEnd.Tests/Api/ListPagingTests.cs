using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.EndToEnd.Tests.Api;

/// <summary>Every list pages by ?limit= and ?after= (gRPC: limit, after, next), in keyset order; writes say whether they created.</summary>
public sealed class ListPagingTests(ControlPlaneOnly fixture) : IClassFixture<ControlPlaneOnly>
{
    private Platform Platform => fixture.Platform;

    [Fact]
    public async Task A_reader_paging_while_a_writer_inserts_sees_every_route_that_was_there_once_and_none_twice()
    {
        const string tenant = "pg-race";
        await Platform.PutTenantAsync(tenant, "pg-race.test");
        await Platform.PutClusterAsync(tenant, "web", new { });
        // Even numbers first; the writer then fills odd numbers in between, and new IDs before and after all of them.
        var existing = Enumerable.Range(0, 30).Select(i => $"r{i * 2:000}").ToList();
        foreach (var id in existing)
            await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/{id}", new { match = new { pathPrefix = $"/{id}" }, cluster = "web" });

        var inserts = Enumerable.Range(0, 30).SelectMany(i => new[] { $"r{i * 2 + 1:000}", $"a{i:000}", $"z{i:000}" }).ToList();
        using var written = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            foreach (var id in inserts)
            {
                if (stop.IsCancellationRequested)
                    break;
                await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/{id}", new { match = new { pathPrefix = $"/{id}" }, cluster = "web" });
                written.Release();
            }
        });

        var seen = new List<string>();
        string? after = null;
        do
        {
            var page = await GetJsonAsync($"/v1/tenants/{tenant}/routes?limit=4" + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}"));
            seen.AddRange(page["items"]!.AsArray().Select(r => r!["id"]!.GetValue<string>()));
            after = page["next"]?.GetValue<string>();
            // The writer commits at least one insert between every two pages: they interleave, whatever the scheduling.
            if (after is not null)
                Assert.True(await written.WaitAsync(TimeSpan.FromSeconds(60)), "the writer made no insert in a minute");
        }
        while (after is not null);
        stop.Cancel();
        await writer;

        Assert.Equal(seen.Distinct().Count(), seen.Count);
        Assert.Equal(seen.Order(StringComparer.Ordinal), seen);
        foreach (var id in existing)
            Assert.Single(seen, id);
        Assert.Contains(seen, id => id.StartsWith('z'));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1001")]
    [InlineData("-1")]
    [InlineData("ten")]
    [InlineData("")]
    public async Task A_limit_out_of_bounds_is_a_problem_naming_limit_on_every_list(string limit)
    {
        await Platform.PutTenantAsync("pg-bounds", "pg-bounds.test");
        await Platform.PutClusterAsync("pg-bounds", "web", new { }, ("a", "http://127.0.0.1:9", 1));
        foreach (var list in Lists("pg-bounds"))
        {
            using var response = await Platform.Admin.GetAsync($"{list}?limit={Uri.EscapeDataString(limit)}");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("\"limit\"", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Bounds_and_cursors_of_every_list()
    {
        await Platform.PutTenantAsync("pg-edges", "pg-edges.test");
        await Platform.PutClusterAsync("pg-edges", "web", new { }, ("a", "http://127.0.0.1:9", 1), ("b", "http://127.0.0.1:9", 1));
        await Platform.PutClusterAsync("pg-edges", "api", new { });
        foreach (var list in Lists("pg-edges"))
        {
            var whole = await GetJsonAsync($"{list}?limit=1000");
            Assert.Null(whole["next"]);
            using var garbage = await Platform.Admin.GetAsync($"{list}?after=not-a-cursor!");
            Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
            Assert.Contains("\"after\"", await garbage.Content.ReadAsStringAsync());
        }

        var clusters = await GetJsonAsync("/v1/tenants/pg-edges/clusters?limit=1");
        Assert.Equal("api", clusters["items"]![0]!["id"]!.GetValue<string>());
        var rest = await GetJsonAsync($"/v1/tenants/pg-edges/clusters?limit=1&after={Uri.EscapeDataString(clusters["next"]!.GetValue<string>())}");
        Assert.Equal("web", rest["items"]![0]!["id"]!.GetValue<string>());
        Assert.Null(rest["next"]);
        var backends = await GetJsonAsync("/v1/tenants/pg-edges/clusters/web/backends");
        Assert.Equal(["a", "b"], backends["items"]!.AsArray().Select(b => b!["id"]!.GetValue<string>()));
    }

    [Fact]
    public async Task gRPC_lists_page_writes_say_whether_they_created_and_a_revision_can_be_waited_for()
    {
        using var channel = AdminGrpc.Channel(Platform);
        var admin = new AdminPb.Admin.AdminClient(channel);
        var tenant = await admin.PutTenantAsync(new() { Tenant = "pg-grpc", Spec = new() { Hostnames = { "pg-grpc.test" } } });
        Assert.True(tenant.Created);
        Assert.False((await admin.PutTenantAsync(new() { Tenant = "pg-grpc", Spec = new() { Hostnames = { "pg-grpc.test" } } })).Created);
        foreach (var cluster in new[] { "c1", "c2", "c3" })
            Assert.True((await admin.PutClusterAsync(new() { Tenant = "pg-grpc", Cluster = cluster, Spec = new() })).Created);
        Assert.False((await admin.PutClusterAsync(new() { Tenant = "pg-grpc", Cluster = "c1", Spec = new() { LoadBalancing = "Random" } })).Created);
        Assert.True((await admin.PutBackendAsync(new() { Tenant = "pg-grpc", Cluster = "c1", Backend = "a", Spec = new() { Address = "http://127.0.0.1:9" } })).Created);
        var route = await admin.PutRouteAsync(new() { Tenant = "pg-grpc", Route = "r", Spec = new() { Match = new() { PathPrefix = "/" }, Cluster = "c1" } });
        Assert.True(route.Created);
        Assert.False((await admin.PutRouteAsync(new() { Tenant = "pg-grpc", Route = "r", Spec = new() { Match = new() { PathPrefix = "/x" }, Cluster = "c1" } })).Created);

        var ids = new List<string>();
        var after = "";
        do
        {
            var page = await admin.ListClustersAsync(new() { Tenant = "pg-grpc", Limit = 2, After = after });
            ids.AddRange(page.Clusters.Select(c => c.Cluster));
            after = page.Next;
        }
        while (after.Length > 0);
        Assert.Equal(["c1", "c2", "c3"], ids);

        var refused = await Assert.ThrowsAsync<RpcException>(async () => await admin.ListRoutesAsync(new() { Tenant = "pg-grpc", Limit = 0 }));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Equal("limit", refused.Trailers.GetValue("field"));

        // No worker: nothing is pending, so the wait ends at once, complete.
        var revision = await admin.GetRevisionAsync(new() { Revision = route.Meta.Revision, Wait = "5s" });
        Assert.Equal(route.Meta.Revision, revision.Revision);
        Assert.True(revision.Complete);
        var badWait = await Assert.ThrowsAsync<RpcException>(async () => await admin.GetRevisionAsync(new() { Revision = route.Meta.Revision, Wait = "forever" }));
        Assert.Equal("wait", badWait.Trailers.GetValue("field"));
        Assert.Empty((await admin.ListDataplanesAsync(new() { Limit = 10 })).Next);
    }

    [Fact]
    public async Task The_OpenAPI_document_is_served_to_anyone_and_lists_the_admin_API()
    {
        using var anonymous = Platform.Silos[0].Client(null);
        using var response = await anonymous.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var document = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.StartsWith("3.", document["openapi"]!.GetValue<string>());
        var paths = document["paths"]!.AsObject();
        Assert.NotNull(paths["/v1/tenants/{tenant}/clusters"]?["get"]);
        Assert.NotNull(paths["/v1/tenants/{tenant}/routes/{route}"]?["put"]?["requestBody"]);
        Assert.Equal("bearer", document["components"]!["securitySchemes"]!["bearer"]!["scheme"]!.GetValue<string>());
    }

    private static string[] Lists(string tenant) =>
    [
        "/v1/tenants", $"/v1/tenants/{tenant}/clusters", $"/v1/tenants/{tenant}/routes", $"/v1/tenants/{tenant}/certificates",
        $"/v1/tenants/{tenant}/clusters/web/backends", $"/v1/tenants/{tenant}/clusters/web/backends/a/health-history",
        "/v1/dataplanes", "/v1/pools", "/v1/keys", "/v1/pools/default/tokens",
    ];

    private async Task<JsonNode> GetJsonAsync(string path)
    {
        using var response = await Platform.Admin.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }
}
