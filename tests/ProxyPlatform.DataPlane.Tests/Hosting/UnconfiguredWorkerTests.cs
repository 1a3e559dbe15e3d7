using System.Net;
using System.Text.Json;
using ProxyPlatform.DataPlane.Tests.Infrastructure;

namespace ProxyPlatform.DataPlane.Tests.Hosting;

/// <summary>A real worker whose control plane is unreachable and that has never had a configuration.</summary>
public sealed class UnconfiguredWorker : IAsyncLifetime
{
    private readonly TempDirectory _dataDir = new();

    public InProcessWorker Worker { get; private set; } = null!;
    public string ControlPlaneUrl { get; } = InProcessWorker.UnreachableControlPlane();

    public async ValueTask InitializeAsync() => Worker = await InProcessWorker.StartAsync(_dataDir.Path, ControlPlaneUrl);

    public async ValueTask DisposeAsync()
    {
        await Worker.DisposeAsync();
        _dataDir.Dispose();
    }
}

public sealed class UnconfiguredWorkerTests(UnconfiguredWorker fixture) : IClassFixture<UnconfiguredWorker>
{
    private InProcessWorker Worker => fixture.Worker;
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Worker_that_never_had_a_configuration_answers_503_problem_json()
    {
        using var response = await Worker.GetAsync("acme.test", "/anything");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("https://proxyplatform.dev/problems/no-configuration", problem.RootElement.GetProperty("type").GetString());
        Assert.Equal(503, problem.RootElement.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("title").GetString()));
        Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("detail").GetString()));
        Assert.Equal(response.Headers.GetValues("X-Request-ID").Single(), problem.RootElement.GetProperty("requestId").GetString());
    }

    [Fact]
    public async Task Ops_listener_reports_the_process_alive_but_not_ready()
    {
        using var health = await Worker.Ops.GetAsync("/healthz", Cancel);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("""{"status":"alive"}""", await health.Content.ReadAsStringAsync(Cancel));

        using var ready = await Worker.Ops.GetAsync("/readyz", Cancel);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
    }

    [Fact]
    public async Task Ops_endpoints_do_not_answer_on_the_proxy_port_whatever_the_host_header_says()
    {
        using var viaProxy = await Worker.Proxy.GetAsync("/healthz", Cancel);
        var request = new HttpRequestMessage(HttpMethod.Get, "/healthz");
        request.Headers.Host = $"127.0.0.1:{Worker.OpsPort}";
        using var spoofed = await Worker.Proxy.SendAsync(request, Cancel);

        foreach (var response in new[] { viaProxy, spoofed })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Ops_listener_answers_nothing_but_its_own_endpoints()
    {
        using var response = await Worker.Ops.GetAsync("/anything", Cancel);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public async Task Config_stats_show_no_revision_and_no_connection_to_the_unreachable_control_plane()
    {
        using var stats = JsonDocument.Parse(await Worker.Ops.GetStringAsync("/config-stats", Cancel));
        var root = stats.RootElement;

        Assert.Equal(0, root.GetProperty("appliedRevision").GetInt64());
        Assert.Equal(0, root.GetProperty("updatesReceived").GetInt64());
        Assert.Equal(0, root.GetProperty("bytesReceived").GetInt64());
        Assert.Equal(0, root.GetProperty("lastUpdateBytes").GetInt64());
        Assert.False(root.GetProperty("connected").GetBoolean());
        Assert.Equal(fixture.ControlPlaneUrl, root.GetProperty("controlPlaneUrl").GetString());
    }

    [Fact]
    public async Task Well_formed_request_id_is_kept_and_returned()
    {
        using var response = await Worker.GetAsync("acme.test", "/", requestId: "client-42.a_b");
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));

        Assert.Equal("client-42.a_b", response.Headers.GetValues("X-Request-ID").Single());
        Assert.Equal("client-42.a_b", problem.RootElement.GetProperty("requestId").GetString());
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("semi;colon")]
    public async Task Malformed_request_id_is_replaced_with_a_new_one(string incoming)
    {
        using var response = await Worker.GetAsync("acme.test", "/", requestId: incoming);

        var id = response.Headers.GetValues("X-Request-ID").Single();
        Assert.NotEqual(incoming, id);
        Assert.Matches("^[A-Za-z0-9._-]{1,128}$", id);
    }

    [Fact]
    public async Task Worker_sends_no_server_header()
    {
        using var proxy = await Worker.GetAsync("acme.test", "/");
        using var ops = await Worker.Ops.GetAsync("/healthz", Cancel);

        Assert.False(proxy.Headers.Contains("Server"));
        Assert.False(ops.Headers.Contains("Server"));
    }
}
