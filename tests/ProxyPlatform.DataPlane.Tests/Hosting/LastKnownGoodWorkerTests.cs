using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.DataPlane.Tests.Infrastructure;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Testing;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.Resources;

namespace ProxyPlatform.DataPlane.Tests.Hosting;

/// <summary>
/// A real worker started with an unreachable control plane and a last-known-good file in its data
/// folder, in front of a real backend.
/// </summary>
public sealed class LastKnownGoodWorker : IAsyncLifetime
{
    public const long Revision = 42;
    private readonly TempDirectory _dataDir = new();

    public TestBackend Backend { get; private set; } = null!;
    public InProcessWorker Worker { get; private set; } = null!;
    /// <summary>The worker's answer to the first request it was sent, right after it started.</summary>
    public HttpStatusCode FirstAnswer { get; private set; }

    public async ValueTask InitializeAsync()
    {
        Backend = await TestBackend.StartAsync("a");
        var dead = $"http://127.0.0.1:{ReservedPorts.Take()}";
        await WriteLastKnownGoodAsync(_dataDir.Path, Snapshot(Revision,
            Json(ResourceType.Tenant, "acme", "acme", """{ "hostnames": ["acme.test"] }""", 40),
            Json(ResourceType.Tenant, "open", "open", """{ "hostnames": ["open.test"] }""", 40),
            Json(ResourceType.Cluster, "acme", "web", $$"""{ "spec": { "loadBalancing": "RoundRobin" }, "backends": { "a": { "address": "{{Backend.Address}}" } } }""", 41),
            Json(ResourceType.Cluster, "acme", "dead", $$"""{ "backends": { "gone": { "address": "{{dead}}" } } }""", 41),
            Json(ResourceType.Cluster, "acme", "off", $$"""{ "backends": { "a": { "address": "{{Backend.Address}}", "enabled": false } } }""", 41),
            Json(ResourceType.Cluster, "open", "web", $$"""{ "backends": { "a": { "address": "{{Backend.Address}}" } } }""", 41),
            Json(ResourceType.Route, "acme", "api", """{ "match": { "pathPrefix": "/api" }, "cluster": "web", "stripPrefix": true }""", 42),
            Json(ResourceType.Route, "acme", "keep", """{ "match": { "pathPrefix": "/keep/" }, "cluster": "web" }""", 42),
            Json(ResourceType.Route, "acme", "host", """{ "match": { "pathPrefix": "/host" }, "cluster": "web", "preserveHost": true }""", 42),
            Json(ResourceType.Route, "acme", "dead", """{ "match": { "pathPrefix": "/dead" }, "cluster": "dead" }""", 42),
            Json(ResourceType.Route, "acme", "off", """{ "match": { "pathPrefix": "/off" }, "cluster": "off" }""", 42),
            Json(ResourceType.Route, "acme", "encoded", """{ "match": { "pathPrefix": "/caf%C3%A9" }, "cluster": "web", "stripPrefix": true }""", 42),
            Json(ResourceType.Route, "acme", "slow", """{ "match": { "pathPrefix": "/slow" }, "cluster": "web", "timeoutSeconds": 0.5 }""", 42),
            // A time-out no answer on a busy machine comes near, for a backend that answers at once.
            Json(ResourceType.Route, "acme", "patient", """{ "match": { "pathPrefix": "/patient" }, "cluster": "web", "timeoutSeconds": 60 }""", 42),
            Json(ResourceType.Route, "open", "all", """{ "match": { "hosts": ["open.test"] }, "cluster": "web" }""", 42)));

        Worker = await InProcessWorker.StartAsync(_dataDir.Path, InProcessWorker.UnreachableControlPlane());
        // At once, without waiting for anything: the saved configuration is served from the first
        // request. How soon after the process starts is a benchmark figure (infra/bench/run.sh restart).
        using var first = await Worker.GetAsync("acme.test", "/api/ping");
        FirstAnswer = first.StatusCode;
    }

    /// <summary>Writes <paramref name="snapshot"/> as the last-known-good file of <paramref name="dataDir"/>, as a worker would.</summary>
    public static Task WriteLastKnownGoodAsync(string dataDir, ConfigUpdate snapshot) =>
        new LastKnownGood(new DataPlaneOptions { WorkerId = "writer", DataDir = dataDir }, NullLogger<LastKnownGood>.Instance)
            .SaveAsync([snapshot], TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Worker is not null)
            await Worker.DisposeAsync();
        if (Backend is not null)
            await Backend.DisposeAsync();
        _dataDir.Dispose();
    }
}

public sealed class LastKnownGoodWorkerTests(LastKnownGoodWorker fixture) : IClassFixture<LastKnownGoodWorker>
{
    private InProcessWorker Worker => fixture.Worker;
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public void Worker_restarted_without_its_control_plane_serves_the_last_known_good_configuration_from_its_first_request()
    {
        Assert.Equal(HttpStatusCode.OK, fixture.FirstAnswer);
    }

    [Fact]
    public async Task Worker_on_last_known_good_is_ready_at_its_revision()
    {
        using var ready = await Worker.Ops.GetAsync("/readyz", Cancel);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        using var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync(Cancel));
        Assert.Equal(LastKnownGoodWorker.Revision, body.RootElement.GetProperty("revision").GetInt64());

        using var stats = JsonDocument.Parse(await Worker.Ops.GetStringAsync("/config-stats", Cancel));
        Assert.Equal(LastKnownGoodWorker.Revision, stats.RootElement.GetProperty("appliedRevision").GetInt64());
        Assert.False(stats.RootElement.GetProperty("connected").GetBoolean());
    }

    [Theory]
    [InlineData("/api/users/7", "/users/7")]
    [InlineData("/api/", "/")]
    [InlineData("/api", "/")]
    [InlineData("/caf%C3%A9/x", "/x")]
    public async Task Route_that_strips_its_prefix_sends_the_rest_of_the_path(string path, string backendPath)
    {
        Assert.Equal(backendPath, (await Worker.EchoAsync("acme.test", path)).Path);
    }

    [Fact]
    public async Task Query_string_is_forwarded_unchanged()
    {
        var echo = await Worker.EchoAsync("acme.test", "/api/search?q=a%20b&n=1");

        Assert.Equal("/search", echo.Path);
        Assert.Equal("?q=a%20b&n=1", echo.Query);
    }

    [Fact]
    public async Task Route_that_does_not_strip_keeps_the_whole_path()
    {
        Assert.Equal("/keep/x", (await Worker.EchoAsync("acme.test", "/keep/x")).Path);
    }

    [Fact]
    public async Task Backend_gets_its_own_host_by_default_and_the_clients_when_the_route_preserves_it()
    {
        Assert.Equal(new Uri(fixture.Backend.Address).Authority, (await Worker.EchoAsync("acme.test", "/api/x")).Host);
        Assert.Equal("acme.test", (await Worker.EchoAsync("acme.test", "/host/x")).Host);
    }

    [Fact]
    public async Task Request_id_is_forwarded_to_the_backend_and_returned()
    {
        using var response = await Worker.GetAsync("acme.test", "/api/x", requestId: "trace-me-1");
        var echo = JsonSerializer.Deserialize<BackendEcho>(await response.Content.ReadAsStringAsync(Cancel), JsonSerializerOptions.Web)!;

        Assert.Equal("trace-me-1", echo.Headers["x-request-id"]);
        Assert.Equal("trace-me-1", response.Headers.GetValues("X-Request-ID").Single());
    }

    [Fact]
    public async Task Generated_request_id_is_forwarded_to_the_backend_and_returned()
    {
        using var response = await Worker.GetAsync("acme.test", "/api/x");
        var echo = JsonSerializer.Deserialize<BackendEcho>(await response.Content.ReadAsStringAsync(Cancel), JsonSerializerOptions.Web)!;

        Assert.False(string.IsNullOrEmpty(echo.Headers["x-request-id"]));
        Assert.Equal(echo.Headers["x-request-id"], response.Headers.GetValues("X-Request-ID").Single());
    }

    [Theory]
    [InlineData("acme.test", "/apix")]
    [InlineData("acme.test", "/nothing-here")]
    public async Task Request_no_route_matches_gets_404_problem_json(string host, string path)
    {
        using var response = await Worker.GetAsync(host, path);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("https://proxyplatform.dev/problems/no-route", problem.RootElement.GetProperty("type").GetString());
        Assert.Equal("No route matches this request", problem.RootElement.GetProperty("title").GetString());
        Assert.Equal(404, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(response.Headers.GetValues("X-Request-ID").Single(), problem.RootElement.GetProperty("requestId").GetString());
    }

    [Fact]
    public async Task Request_for_a_host_no_tenant_claims_gets_404_unknown_host()
    {
        using var response = await Worker.GetAsync("other.test", "/api/x");

        await AssertProblemAsync(response, HttpStatusCode.NotFound, "unknown-host");
    }

    [Fact]
    public async Task Route_to_a_backend_that_refuses_connections_answers_502_problem_json()
    {
        using var response = await Worker.GetAsync("acme.test", "/dead/x");

        await AssertProblemAsync(response, HttpStatusCode.BadGateway, "backend-unreachable");
    }

    [Fact]
    public async Task Route_to_a_cluster_without_enabled_backends_answers_503_problem_json()
    {
        using var response = await Worker.GetAsync("acme.test", "/off/x");

        await AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable, "no-backend");
    }

    [Fact]
    public async Task Route_whose_backend_answers_after_the_routes_timeout_gets_504_problem_json()
    {
        using var response = await Worker.GetAsync("acme.test", "/slow/x?delay=5000");

        await AssertProblemAsync(response, HttpStatusCode.GatewayTimeout, "backend-timeout");
    }

    [Fact]
    public async Task Route_whose_backend_answers_within_the_routes_timeout_is_served()
    {
        // Not the 0.5 s route: a first request through a fresh worker on a busy machine once took longer than that.
        Assert.Equal("/patient/x", (await Worker.EchoAsync("acme.test", "/patient/x?delay=10")).Path);
    }

    [Fact]
    public async Task Proxy_routes_do_not_answer_on_the_ops_port_and_ops_paths_on_the_proxy_port_go_to_the_routes()
    {
        var onOps = new HttpRequestMessage(HttpMethod.Get, "/api/x");
        onOps.Headers.Host = "acme.test";
        using var ops = await Worker.Ops.SendAsync(onOps, Cancel);
        Assert.Equal(HttpStatusCode.NotFound, ops.StatusCode);

        // A catch-all route of a tenant owns /healthz on the proxy port like any other path.
        Assert.Equal("/healthz", (await Worker.EchoAsync("open.test", "/healthz")).Path);
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string type)
    {
        var text = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(status == response.StatusCode, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(text);
        Assert.Equal($"https://proxyplatform.dev/problems/{type}", problem.RootElement.GetProperty("type").GetString());
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
    }
}
