using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.EndToEnd.Tests.Explain;

/// <summary>A control plane and one worker for the explain tests; each test uses its own tenants and hosts.</summary>
public sealed class ExplainFixture : IAsyncLifetime
{
    public Platform Platform { get; private set; } = null!;
    public Worker Worker => Platform.Workers[0];

    public async ValueTask InitializeAsync() => Platform = await Platform.StartAsync("explain", workers: 1);

    public async ValueTask DisposeAsync()
    {
        if (Platform is not null)
            await Platform.DisposeAsync();
    }

    public Task<long> PutAsync(string path, object body) => Platform.PutOkAsync(path, body);

    public async Task ServedAsync(long revision) => await Worker.WaitForRevisionAsync(revision);

    public Task<long> TenantAsync(string tenant, params string[] hosts) => Platform.PutTenantAsync(tenant, hosts);

    public Task<long> ClusterAsync(string tenant, string cluster, object spec, params (string Name, string Address, int Weight)[] backends) =>
        Platform.PutClusterAsync(tenant, cluster, spec, backends);

    /// <summary>A tenant owning <paramref name="host"/> with a cluster <c>web</c> and a route <c>main</c> to it; returns once the worker serves it.</summary>
    public async Task ServiceAsync(string tenant, string host, object clusterSpec, params (string Name, string Address, int Weight)[] backends)
    {
        await TenantAsync(tenant, host);
        await ClusterAsync(tenant, "web", clusterSpec, backends);
        await ServedAsync(await PutAsync($"/v1/tenants/{tenant}/routes/main", new { match = new { pathPrefix = "/" }, cluster = "web" }));
    }
}

/// <summary>
/// Explain a request (issue 20): what the control plane and a worker say about a request, checked
/// against the same request sent through the worker.
/// </summary>
public sealed class ExplainTests(ExplainFixture fixture) : IClassFixture<ExplainFixture>
{
    private Worker Worker => fixture.Worker;
    private Platform Platform => fixture.Platform;

    [Fact]
    public async Task The_backend_a_worker_names_next_is_the_one_that_answers_the_request()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await fixture.ServiceAsync("ex-next", "next.explain.test", new { loadBalancing = "RoundRobin" }, ("a", a.Address, 1), ("b", b.Address, 1));
        (await Worker.WaitForStatusAsync("next.explain.test", "/", 200)).Dispose();

        // Several turns of the balancer: each time, the request goes where explain said it would.
        for (var turn = 0; turn < 4; turn++)
        {
            var answer = await ExplainAsync(Platform.Admin, "ex-next", new { method = "GET", host = "next.explain.test", path = "/x" }, worker: Worker.Id);
            Assert.Equal("worker", answer["source"]!.GetValue<string>());
            Assert.Equal(Worker.Id, answer["worker"]!.GetValue<string>());
            Assert.Equal("main", answer["route"]!.GetValue<string>());
            var next = answer["cluster"]!["next"]!;
            Assert.False(next["prediction"]!.GetValue<bool>(), next.ToJsonString());
            var named = next["backend"]!.GetValue<string>();
            Assert.Equal(named, (await Worker.EchoAsync("next.explain.test", "/x")).Backend);
        }
    }

    [Fact]
    public async Task Strip_prefix_is_explained_as_the_path_the_backend_really_sees()
    {
        await using var a = await TestBackend.StartAsync("a");
        await fixture.TenantAsync("ex-strip", "strip.explain.test");
        await fixture.ClusterAsync("ex-strip", "web", new { }, ("a", a.Address, 1));
        await fixture.ServedAsync(await fixture.PutAsync("/v1/tenants/ex-strip/routes/api", new { match = new { pathPrefix = "/api" }, cluster = "web", stripPrefix = true }));
        (await Worker.WaitForStatusAsync("strip.explain.test", "/api/v1", 200)).Dispose();

        var query = new { method = "GET", host = "strip.explain.test", path = "/api//v1/./items" };
        var planned = await ExplainAsync(Platform.Admin, "ex-strip", query);
        var applied = await ExplainAsync(Platform.Admin, "ex-strip", query, worker: Worker.Id);
        var seen = await Worker.EchoAsync("strip.explain.test", "/api//v1/./items");

        Assert.Equal("/v1/items", seen.Path);
        Assert.Equal(seen.Path, planned["backendPath"]!.GetValue<string>());
        Assert.Equal(seen.Path, applied["backendPath"]!.GetValue<string>());
        Assert.Equal("/api/v1/items", planned["request"]!["normalizedPath"]!.GetValue<string>());
    }

    [Fact]
    public async Task Every_route_considered_says_why_it_lost()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        const string tenant = "ex-lost";
        await fixture.TenantAsync(tenant, "lost.explain.test", "*.lost.explain.test");
        await fixture.ClusterAsync(tenant, "web", new { }, ("a", a.Address, 1));
        await fixture.ClusterAsync(tenant, "canary", new { }, ("b", b.Address, 1));
        await fixture.PutAsync($"/v1/tenants/{tenant}/routes/root", new { match = new { hosts = new[] { "lost.explain.test" }, pathPrefix = "/" }, cluster = "web" });
        await fixture.PutAsync($"/v1/tenants/{tenant}/routes/api", new { match = new { hosts = new[] { "lost.explain.test" }, pathPrefix = "/api" }, cluster = "web" });
        await fixture.PutAsync($"/v1/tenants/{tenant}/routes/api-canary", new { match = new { hosts = new[] { "lost.explain.test" }, pathPrefix = "/api", headers = new Dictionary<string, string> { ["x-canary"] = "1" } }, cluster = "canary" });
        await fixture.PutAsync($"/v1/tenants/{tenant}/routes/api-post", new { match = new { hosts = new[] { "lost.explain.test" }, pathPrefix = "/api", methods = new[] { "POST" } }, cluster = "web" });
        await fixture.PutAsync($"/v1/tenants/{tenant}/routes/api-low", new { match = new { hosts = new[] { "lost.explain.test" }, pathPrefix = "/api", headers = new Dictionary<string, string> { ["x-canary"] = "1" } }, cluster = "web", priority = -1, allowShadowed = true });
        await fixture.PutAsync($"/v1/tenants/{tenant}/routes/wild", new { match = new { hosts = new[] { "*.lost.explain.test" }, pathPrefix = "/api" }, cluster = "web" });
        await fixture.ServedAsync(await fixture.PutAsync($"/v1/tenants/{tenant}/routes/other", new { match = new { hosts = new[] { "lost.explain.test" }, pathPrefix = "/other" }, cluster = "web" }));

        var query = new { method = "GET", host = "lost.explain.test", path = "/api/x", headers = new Dictionary<string, string> { ["X-Canary"] = "1" } };
        foreach (var answer in new[] { await ExplainAsync(Platform.Admin, tenant, query), await ExplainAsync(Platform.Admin, tenant, query, worker: Worker.Id) })
        {
            Assert.Equal("api-canary", answer["route"]!.GetValue<string>());
            var lost = answer["routes"]!.AsArray().ToDictionary(r => r!["route"]!.GetValue<string>(), r => r!["lostOn"]?.GetValue<string>());
            Assert.Equal(new Dictionary<string, string?>
            {
                ["api-canary"] = null,
                ["api-low"] = "lower-priority",
                ["api"] = "less-specific",
                ["root"] = "less-specific-path",
                ["api-post"] = "method",
                ["wild"] = "host",
                ["other"] = "path",
            }, lost);
        }

        // The request really goes there.
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/x");
        request.Headers.Host = "lost.explain.test";
        request.Headers.Add("X-Canary", "1");
        using var response = await Worker.Client.SendAsync(request);
        Assert.Equal("b", JsonSerializer.Deserialize<BackendEcho>(await response.Content.ReadAsStringAsync(), JsonSerializerOptions.Web)!.Backend);

        var wildcard = await ExplainAsync(Platform.Admin, tenant, new { method = "GET", host = "a.lost.explain.test", path = "/api" });
        Assert.Equal("wild", wildcard["route"]!.GetValue<string>());
        var none = await ExplainAsync(Platform.Admin, tenant, new { method = "GET", host = "lost.explain.test", path = "/nothing-here/../x" });
        Assert.Equal("root", none["route"]!.GetValue<string>());
    }

    [Fact]
    public async Task Another_tenants_host_is_only_not_this_tenants_and_a_tenant_key_cannot_explain_another_tenant()
    {
        await using var a = await TestBackend.StartAsync("a");
        await fixture.ServiceAsync("ex-mine", "mine.explain.test", new { }, ("a", a.Address, 1));
        await fixture.ServiceAsync("ex-theirs", "theirs.explain.test", new { }, ("a", a.Address, 1));
        var key = await CreateKeyAsync("tenant-viewer", "ex-mine");
        using var viewer = Platform.Silos[0].Client(key);

        var answer = await ExplainAsync(viewer, "ex-mine", new { method = "GET", host = "theirs.explain.test", path = "/" });
        Assert.Equal("not-this-tenants-host", answer["outcome"]!.GetValue<string>());
        Assert.DoesNotContain("ex-theirs", answer.ToJsonString(), StringComparison.Ordinal);
        Assert.Empty(answer["routes"]!.AsArray());

        foreach (var worker in new string?[] { null, Worker.Id })
        {
            using var refused = await PostExplainAsync(viewer, "ex-theirs", """{"method":"GET","host":"theirs.explain.test","path":"/"}""", worker);
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
            Assert.DoesNotContain("theirs.explain.test", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("""{"method":"GET","host":"mine.explain.test"}""", "path")]
    [InlineData("""{"method":"GET","host":"mine.explain.test","path":"/a?b=c"}""", "path")]
    [InlineData("""{"method":"GE T","host":"mine.explain.test","path":"/"}""", "method")]
    [InlineData("""{"method":"GET","host":"not a host","path":"/"}""", "host")]
    [InlineData("""{"method":"GET","host":"mine.explain.test","path":"/","headers":{"bad header":"1"}}""", "headers.bad header")]
    [InlineData("""{"method":"GET","host":"mine.explain.test","path":"/","colour":"red"}""", "colour")]
    public async Task Bad_input_is_a_problem_naming_the_field(string body, string field)
    {
        await fixture.TenantAsync("ex-mine", "mine.explain.test");
        using var response = await PostExplainAsync(Platform.Admin, "ex-mine", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(field, JsonNode.Parse(text)!["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_unknown_worker_is_not_found()
    {
        await fixture.TenantAsync("ex-mine", "mine.explain.test");
        using var response = await PostExplainAsync(Platform.Admin, "ex-mine", """{"method":"GET","host":"mine.explain.test","path":"/"}""", "no-such-worker");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task The_gRPC_method_answers_as_REST_does()
    {
        await using var a = await TestBackend.StartAsync("a");
        await fixture.ServiceAsync("ex-grpc", "grpc.explain.test", new { }, ("a", a.Address, 1));
        (await Worker.WaitForStatusAsync("grpc.explain.test", "/", 200)).Dispose();
        using var channel = AdminGrpc.Channel(Platform);
        var client = new AdminPb.Admin.AdminClient(channel);

        var planned = await client.ExplainRequestAsync(new() { Tenant = "ex-grpc", Method = "GET", Host = "grpc.explain.test", Path = "/p" });
        Assert.Equal(("matched", "main", "/p", "web", "a", true), (planned.Outcome, planned.Route, planned.BackendPath, planned.Cluster, planned.NextBackend, planned.NextIsPrediction));
        var applied = await client.ExplainRequestAsync(new() { Tenant = "ex-grpc", Method = "GET", Host = "grpc.explain.test", Path = "/p", Worker = Worker.Id });
        Assert.Equal((Worker.Id, "a", false), (applied.Worker, applied.NextBackend, applied.NextIsPrediction));
        Assert.True(applied.Revision > 0);
        Assert.Equal("worker", JsonNode.Parse(applied.AnswerJson)!["source"]!.GetValue<string>());

        var invalid = await Assert.ThrowsAsync<RpcException>(async () => await client.ExplainRequestAsync(new() { Tenant = "ex-grpc", Method = "GET", Host = "grpc.explain.test", Path = "no-slash" }));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Contains("path", invalid.Status.Detail, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await client.ExplainRequestAsync(new() { Tenant = "ex-grpc", Method = "GET", Host = "grpc.explain.test", Path = "/", Worker = "no-such-worker" }));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }

    private async Task<string> CreateKeyAsync(string role, string tenant)
    {
        var body = JsonSerializer.Serialize(new { name = $"{role} of {tenant}", role, tenant });
        using var response = await Platform.Admin.PostAsync("/v1/keys", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, text);
        return JsonNode.Parse(text)!["secret"]!.GetValue<string>();
    }

    private static Task<HttpResponseMessage> PostExplainAsync(HttpClient client, string tenant, string body, string? worker = null) =>
        client.PostAsync($"/v1/tenants/{tenant}/explain{(worker is null ? "" : $"?worker={Uri.EscapeDataString(worker)}")}", new StringContent(body, Encoding.UTF8, "application/json"));

    private static async Task<JsonNode> ExplainAsync(HttpClient client, string tenant, object query, string? worker = null)
    {
        using var response = await PostExplainAsync(client, tenant, JsonSerializer.Serialize(query), worker);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"explain answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }
}
