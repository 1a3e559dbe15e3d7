using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A whole platform on loopback: a fresh database on the run's PostgreSQL, one control-plane
/// process and data-plane worker processes, on ports fixed for its lifetime so that a restarted
/// control plane comes back where the workers look for it.
/// </summary>
public sealed class Platform : IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly int _siloPort = FreePort.Get();
    private readonly int _gatewayPort = FreePort.Get();
    private readonly string _dataRoot = Directory.CreateTempSubdirectory("proxyplatform-e2e-").FullName;

    private Platform(string connectionString)
    {
        _connectionString = connectionString;
        AdminUrl = $"http://127.0.0.1:{FreePort.Get()}";
        GrpcUrl = $"http://127.0.0.1:{FreePort.Get()}";
        ControlPlane = NewControlPlane();
        Admin = new HttpClient { BaseAddress = new Uri(AdminUrl), Timeout = TimeSpan.FromSeconds(30) };
    }

    public string AdminUrl { get; }
    public string GrpcUrl { get; }
    public PlatformProcess ControlPlane { get; private set; }
    public List<Worker> Workers { get; } = [];
    public HttpClient Admin { get; }

    public static async Task<Platform> StartAsync(string name, int workers = 1)
    {
        var postgres = await PostgresServer.GetAsync();
        var platform = new Platform(await postgres.CreateDatabaseAsync(name));
        try
        {
            await platform.ControlPlane.StartAsync($"{platform.AdminUrl}/healthz");
            for (var i = 0; i < workers; i++)
                await platform.StartWorkerAsync($"worker-{i + 1}");
            return platform;
        }
        catch
        {
            await platform.DisposeAsync();
            throw;
        }
    }

    public async Task<Worker> StartWorkerAsync(string id)
    {
        var worker = new Worker(id, FreePort.Get(), FreePort.Get(), Path.Combine(_dataRoot, id), GrpcUrl);
        Workers.Add(worker);
        await worker.StartAsync();
        return worker;
    }

    /// <summary>Kills the control plane as a crash would.</summary>
    public Task KillControlPlaneAsync() => ControlPlane.KillAsync();

    public async Task StartControlPlaneAsync()
    {
        await ControlPlane.DisposeAsync();
        ControlPlane = NewControlPlane();
        await ControlPlane.StartAsync($"{AdminUrl}/healthz");
    }

    public Task<HttpResponseMessage> PutAsync(string path, object body) =>
        Admin.PutAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));

    public Task<HttpResponseMessage> PutRawAsync(string path, string json) =>
        Admin.PutAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    /// <summary>A PUT that must succeed; returns the revision it took effect at.</summary>
    public async Task<long> PutOkAsync(string path, object body)
    {
        using var response = await PutAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"PUT {path} answered {(int)response.StatusCode}: {text}");
        return long.Parse(response.Headers.GetValues("X-Config-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Creates a tenant, a cluster with the given backends, and a route to it.</summary>
    public async Task<long> CreateServiceAsync(string tenant, string host, IEnumerable<TestBackend> backends, string pathPrefix = "/", bool stripPrefix = false)
    {
        await PutOkAsync($"/v1/tenants/{tenant}", new { displayName = tenant, hostnames = new[] { host } });
        await PutOkAsync($"/v1/tenants/{tenant}/clusters/web", new { loadBalancing = "RoundRobin" });
        foreach (var backend in backends)
            await PutOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/{backend.Name}", new { address = backend.Address });
        return await PutOkAsync($"/v1/tenants/{tenant}/routes/main", new { match = new { pathPrefix }, cluster = "web", stripPrefix });
    }

    private PlatformProcess NewControlPlane() => PlatformProcess.ControlPlane(
        $"--ConnectionStrings:Postgres={_connectionString}",
        $"--Admin:Url={AdminUrl}",
        $"--Grpc:Url={GrpcUrl}",
        $"--Orleans:SiloPort={_siloPort}",
        $"--Orleans:GatewayPort={_gatewayPort}",
        $"--Orleans:ClusterId=e2e-{_siloPort}");

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in Workers)
            await worker.DisposeAsync();
        await ControlPlane.DisposeAsync();
        Admin.Dispose();
        try
        {
            Directory.Delete(_dataRoot, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A data-plane worker process with its proxy and ops listeners.</summary>
public sealed class Worker(string id, int proxyPort, int opsPort, string dataDir, string controlPlaneUrl) : IAsyncDisposable
{
    public string Id { get; } = id;
    public string ProxyUrl { get; } = $"http://127.0.0.1:{proxyPort}";
    public string OpsUrl { get; } = $"http://127.0.0.1:{opsPort}";
    public PlatformProcess Process { get; private set; } = null!;
    public HttpClient Client { get; } = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(1) })
    {
        BaseAddress = new Uri($"http://127.0.0.1:{proxyPort}"),
        Timeout = TimeSpan.FromSeconds(30),
    };

    public async Task StartAsync()
    {
        if (Process is not null)
            await Process.DisposeAsync();
        Process = PlatformProcess.DataPlane(
            $"--ControlPlane:Url={controlPlaneUrl}",
            $"--Proxy:Url={ProxyUrl}",
            $"--Ops:Url={OpsUrl}",
            $"--DataPlane:Id={Id}",
            $"--DataPlane:DataDir={dataDir}");
        await Process.StartAsync($"{OpsUrl}/healthz");
    }

    public Task<HttpResponseMessage> GetAsync(string host, string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = host;
        return Client.SendAsync(request);
    }

    /// <summary>What the backend saw of a GET through this worker; fails unless the worker answered 200.</summary>
    public async Task<BackendEcho> EchoAsync(string host, string path)
    {
        using var response = await GetAsync(host, path);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"GET {host}{path} through {Id} answered {(int)response.StatusCode}: {text}");
        return JsonSerializer.Deserialize<BackendEcho>(text, JsonSerializerOptions.Web)!;
    }

    /// <summary>Waits until a GET through this worker answers <paramref name="status"/> (config propagates asynchronously).</summary>
    public async Task<HttpResponseMessage> WaitForStatusAsync(string host, string path, int status, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        HttpResponseMessage? last = null;
        while (true)
        {
            last?.Dispose();
            try
            {
                last = await GetAsync(host, path);
                if ((int)last.StatusCode == status || DateTime.UtcNow > deadline)
                    break;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                last = null;
            }
            await Task.Delay(50);
        }
        if ((int)last.StatusCode != status)
            throw new TimeoutException($"GET {host}{path} through {Id} still answers {(int)last.StatusCode}, not {status}: {await last.Content.ReadAsStringAsync()}\n--- worker output ---\n{Process.Output}");
        return last;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (Process is not null)
            await Process.DisposeAsync();
    }
}
