using System.Text.Json;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Proxy;

/// <summary>
/// One platform for every proxy-behaviour test: a control-plane silo, an <see cref="Edge"/> worker
/// that trusts loopback as a proxy (and strips <c>X-Secret-Internal</c>), a <see cref="Plain"/>
/// worker that trusts nobody, and httpbin. Each test class uses its own tenants and host names.
/// </summary>
public sealed class ProxyFixture : IAsyncLifetime
{
    public const string EdgeName = "edge-e2e";
    public const int EdgeMaxHops = 5;
    /// <summary>The local address the <see cref="PartitionedAsync">partitioned worker</see> connects to backends from.</summary>
    public const string PartitionedAddress = "127.0.0.3";

    private Task<Worker>? _partitioned;

    public Platform Platform { get; private set; } = null!;
    public Worker Edge { get; private set; } = null!;
    public Worker Plain { get; private set; } = null!;
    public HttpBinServer HttpBin { get; private set; } = null!;
    /// <summary>The edge worker's HTTP/2 cleartext (h2c) listener, where gRPC clients connect.</summary>
    public string EdgeH2cUrl => Edge.H2cUrl!;

    public async ValueTask InitializeAsync()
    {
        var httpBin = HttpBinServer.StartAsync();
        Platform = await Platform.StartAsync("proxy", workers: 0);
        Edge = await Platform.StartWorkerAsync("edge", 0,
            "--Proxy:TrustedProxies=127.0.0.0/8", "--Proxy:StripResponseHeaders=X-Secret-Internal",
            $"--Proxy:InstanceName={EdgeName}", $"--Proxy:MaxHops={EdgeMaxHops}", "--Proxy:H2cUrl=http://127.0.0.1:0");
        Plain = await Platform.StartWorkerAsync("plain", 0);
        HttpBin = await httpBin;
    }

    /// <summary>
    /// A third worker, started on first use, that connects to backends from <see cref="PartitionedAddress"/>
    /// (<c>Proxy:OutboundBindAddress</c>), so that a backend can refuse it alone.
    /// </summary>
    public Task<Worker> PartitionedAsync() =>
        _partitioned ??= Platform.StartWorkerAsync("partitioned", 0, $"--Proxy:OutboundBindAddress={PartitionedAddress}");

    /// <summary>A PUT through the admin API that must succeed; returns its revision.</summary>
    public Task<long> PutAsync(string path, object body) => Platform.PutOkAsync(path, body);

    /// <summary>Waits until both workers serve <paramref name="revision"/>.</summary>
    public async Task ServedAsync(long revision)
    {
        await Edge.WaitForRevisionAsync(revision);
        await Plain.WaitForRevisionAsync(revision);
    }

    /// <summary>Creates a tenant that owns <paramref name="hosts"/>.</summary>
    public Task<long> TenantAsync(string tenant, params string[] hosts) => Platform.PutTenantAsync(tenant, hosts);

    /// <summary>Creates a cluster with <paramref name="spec"/> and its backends (<c>name → address</c>, weight 1 unless given).</summary>
    public Task<long> ClusterAsync(string tenant, string cluster, object spec, params (string Name, string Address, int Weight)[] backends) =>
        Platform.PutClusterAsync(tenant, cluster, spec, backends);

    /// <summary>
    /// A tenant owning <paramref name="host"/> with one cluster, <c>web</c>, and one route, <c>main</c>, sending
    /// everything to it; returns once both workers serve it.
    /// </summary>
    public async Task ServiceAsync(string tenant, string host, object clusterSpec, params (string Name, string Address, int Weight)[] backends)
    {
        await TenantAsync(tenant, host);
        await ClusterAsync(tenant, "web", clusterSpec, backends);
        await ServedAsync(await PutAsync($"/v1/tenants/{tenant}/routes/main", new { match = new { pathPrefix = "/" }, cluster = "web" }));
    }

    public async ValueTask DisposeAsync()
    {
        if (Platform is not null)
            await Platform.DisposeAsync();
        if (HttpBin is not null)
            await HttpBin.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class ProxyCollection : ICollectionFixture<ProxyFixture>
{
    public const string Name = "proxy behaviour";
}

/// <summary>What the tests check of every answer the worker writes itself.</summary>
public static class ProxyProblem
{
    public const string BaseUri = "https://proxyplatform.dev/problems/";

    /// <summary>
    /// Asserts <paramref name="response"/> is the worker's problem+json of <paramref name="type"/>,
    /// naming the request ID (the one in <c>X-Request-ID</c>), the route and cluster when given, and
    /// none of <paramref name="secrets"/> (backend addresses); returns the body.
    /// </summary>
    public static async Task<JsonElement> AssertAsync(HttpResponseMessage response, int status, string type,
        string? route = null, string? cluster = null, params string[] secrets)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == (int)response.StatusCode, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(text).RootElement.Clone();
        Assert.Equal(BaseUri + type, body.GetProperty("type").GetString());
        Assert.Equal(status, body.GetProperty("status").GetInt32());
        var requestId = body.GetProperty("requestId").GetString();
        Assert.False(string.IsNullOrEmpty(requestId));
        Assert.Equal(requestId, response.Headers.GetValues("X-Request-ID").Single());
        if (route is not null)
            Assert.Equal(route, body.GetProperty("route").GetString());
        if (cluster is not null)
            Assert.Equal(cluster, body.GetProperty("cluster").GetString());
        foreach (var secret in secrets)
            Assert.DoesNotContain(secret, text, StringComparison.OrdinalIgnoreCase);
        Assert.False(response.Headers.Contains("Server"), "the worker must not name its server software");
        return body;
    }
}

/// <summary>Requests to a worker for a host name, the way a client reaches a tenant.</summary>
public static class WorkerRequests
{
    public static HttpRequestMessage Request(HttpMethod method, string host, string path, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Host = host;
        return request;
    }

    public static Task<HttpResponseMessage> SendAsync(this Worker worker, HttpMethod method, string host, string path, HttpContent? content = null) =>
        worker.Client.SendAsync(Request(method, host, path, content));

    /// <summary>The headers httpbin's <c>/headers?show_env=1</c> says it received, by case-insensitive name.</summary>
    public static async Task<Dictionary<string, string>> HttpBinHeadersAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        var headers = JsonDocument.Parse(text).RootElement.GetProperty("headers");
        return headers.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.OrdinalIgnoreCase);
    }
}
