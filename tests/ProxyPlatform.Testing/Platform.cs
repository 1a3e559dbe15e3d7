using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace ProxyPlatform.Testing;

/// <summary>
/// A whole platform on loopback: a fresh database on the run's PostgreSQL, control-plane silos
/// forming one Orleans cluster, and data-plane worker processes, on ports fixed for its lifetime
/// so that a restarted silo comes back where the workers look for it.
/// </summary>
public sealed class Platform : IAsyncDisposable
{
    private readonly string _dataRoot = Directory.CreateTempSubdirectory("proxyplatform-e2e-").FullName;
    private readonly string _clusterId = $"e2e-{Guid.NewGuid():N}";

    private Platform(string connectionString, int silos, string[] siloArgs)
    {
        ConnectionString = connectionString;
        for (var i = 0; i < silos; i++)
            Silos.Add(new Silo(connectionString, _clusterId, siloArgs));
        Admin = Silos[0].Admin;
    }

    /// <summary>The silos' connection string: the platform's own database on the run's PostgreSQL.</summary>
    public string ConnectionString { get; }

    public List<Silo> Silos { get; } = [];
    public List<Worker> Workers { get; } = [];

    /// <summary>The first silo's admin API.</summary>
    public HttpClient Admin { get; }
    public string AdminUrl => Silos[0].AdminUrl;
    public string GrpcUrl => Silos[0].GrpcUrl;

    public static Task<Platform> StartAsync(string name, int workers = 1, int silos = 1, params string[] siloArgs) =>
        StartAsync(name, workers, silos, connection: null, siloArgs);

    /// <param name="connection">Changes the silos' connection string, e.g. to replace the test pools' settings (see <see cref="PostgresServer.CreateDatabaseAsync"/>).</param>
    public static async Task<Platform> StartAsync(string name, int workers, int silos, Action<NpgsqlConnectionStringBuilder>? connection, params string[] siloArgs)
    {
        var postgres = await PostgresServer.GetAsync();
        var connectionString = new NpgsqlConnectionStringBuilder(await postgres.CreateDatabaseAsync(name));
        connection?.Invoke(connectionString);
        var platform = new Platform(connectionString.ConnectionString, silos, siloArgs);
        try
        {
            foreach (var silo in platform.Silos)
                await silo.StartAsync();
            for (var i = 0; i < workers; i++)
                await platform.StartWorkerAsync($"worker-{i + 1}", preferredSilo: i % silos);
            return platform;
        }
        catch
        {
            await platform.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts a worker that connects to <paramref name="preferredSilo"/> first and to the others after it.</summary>
    public async Task<Worker> StartWorkerAsync(string id, int preferredSilo = 0, params string[] args)
    {
        var urls = Silos.Skip(preferredSilo).Concat(Silos.Take(preferredSilo)).Select(s => s.GrpcUrl);
        var worker = new Worker(id, FreePort.Get(), FreePort.Get(), Path.Combine(_dataRoot, id), string.Join(',', urls), args);
        Workers.Add(worker);
        await worker.StartAsync();
        return worker;
    }

    /// <summary>Kills the (first) control plane as a crash would.</summary>
    public Task KillControlPlaneAsync() => Silos[0].Process.KillAsync();

    public Task StartControlPlaneAsync() => Silos[0].StartAsync();

    public Task<HttpResponseMessage> PutAsync(string path, object body) => Silos[0].PutAsync(path, body);

    public Task<HttpResponseMessage> PutRawAsync(string path, string json) => Silos[0].PutRawAsync(path, json);

    /// <summary>A PUT that must succeed; returns the revision it took effect at.</summary>
    public Task<long> PutOkAsync(string path, object body) => Silos[0].PutOkAsync(path, body);

    /// <summary>Creates a tenant, a cluster with the given backends, and a route to it.</summary>
    public async Task<long> CreateServiceAsync(string tenant, string host, IEnumerable<TestBackend> backends, string pathPrefix = "/", bool stripPrefix = false)
    {
        await PutOkAsync($"/v1/tenants/{tenant}", new { displayName = tenant, hostnames = new[] { host } });
        await PutOkAsync($"/v1/tenants/{tenant}/clusters/web", new { loadBalancing = "RoundRobin" });
        foreach (var backend in backends)
            await PutOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/{backend.Name}", new { address = backend.Address });
        return await PutOkAsync($"/v1/tenants/{tenant}/routes/main", new { match = new { pathPrefix }, cluster = "web", stripPrefix });
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in Workers)
            await worker.DisposeAsync();
        foreach (var silo in Silos)
            await silo.DisposeAsync();
        try
        {
            Directory.Delete(_dataRoot, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One control-plane process (an Orleans silo with its admin and gRPC listeners).</summary>
public sealed class Silo : IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly string _clusterId;
    private readonly int _siloPort = FreePort.Get();
    private readonly int _gatewayPort = FreePort.Get();

    private readonly string[] _args;

    public Silo(string connectionString, string clusterId, string[] args)
    {
        _args = args;
        _connectionString = connectionString;
        _clusterId = clusterId;
        AdminUrl = $"http://127.0.0.1:{FreePort.Get()}";
        GrpcUrl = $"http://127.0.0.1:{FreePort.Get()}";
        Admin = new HttpClient { BaseAddress = new Uri(AdminUrl), Timeout = TimeSpan.FromSeconds(60) };
    }

    public string AdminUrl { get; }
    public string GrpcUrl { get; }
    public HttpClient Admin { get; }
    public PlatformProcess Process { get; private set; } = null!;

    public async Task StartAsync()
    {
        if (Process is not null)
            await Process.DisposeAsync();
        Process = PlatformProcess.ControlPlane(
            [$"--ConnectionStrings:Postgres={_connectionString}",
            $"--Admin:Url={AdminUrl}",
            $"--Grpc:Url={GrpcUrl}",
            $"--Orleans:SiloPort={_siloPort}",
            $"--Orleans:GatewayPort={_gatewayPort}",
            $"--Orleans:ClusterId={_clusterId}", .. _args]);
        await Process.StartAsync($"{AdminUrl}/healthz");
    }

    public Task<HttpResponseMessage> PutAsync(string path, object body) =>
        Admin.PutAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));

    public Task<HttpResponseMessage> PutRawAsync(string path, string json) =>
        Admin.PutAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    public async Task<long> PutOkAsync(string path, object body)
    {
        using var response = await PutAsync(path, body);
        return await RevisionOfAsync(response, "PUT", path);
    }

    public async Task<long> DeleteOkAsync(string path)
    {
        using var response = await Admin.DeleteAsync(path);
        return await RevisionOfAsync(response, "DELETE", path);
    }

    private async Task<long> RevisionOfAsync(HttpResponseMessage response, string method, string path)
    {
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"{method} {path} answered {(int)response.StatusCode}: {text}\n--- control plane ---\n{Process.Output}");
        return long.Parse(response.Headers.GetValues("X-Config-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        if (Process is not null)
            await Process.DisposeAsync();
    }
}

/// <summary>A data-plane worker process with its proxy and ops listeners.</summary>
public sealed class Worker(string id, int proxyPort, int opsPort, string dataDir, string controlPlaneUrl, string[] extraArgs) : IAsyncDisposable
{
    public string Id { get; } = id;
    /// <summary>Where the worker keeps its last-known-good file (<c>DataPlane:DataDir</c>).</summary>
    public string DataDir { get; } = dataDir;
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
            [$"--ControlPlane:Url={controlPlaneUrl}",
            $"--Proxy:Url={ProxyUrl}",
            $"--Ops:Url={OpsUrl}",
            $"--DataPlane:Id={Id}",
            $"--DataPlane:DataDir={DataDir}", .. extraArgs]);
        await Process.StartAsync($"{OpsUrl}/healthz");
    }

    /// <summary>Kills the worker as a crash would; <see cref="StartAsync"/> brings it back with the same identity and data folder.</summary>
    public Task KillAsync() => Process.KillAsync();

    /// <summary>The worker's configuration-stream counters from its ops listener.</summary>
    public async Task<ConfigStats> StatsAsync()
    {
        using var ops = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var text = await ops.GetStringAsync($"{OpsUrl}/config-stats");
        return JsonSerializer.Deserialize<ConfigStats>(text, JsonSerializerOptions.Web)!;
    }

    /// <summary>Waits until the worker has applied <paramref name="revision"/> (or later).</summary>
    public async Task<ConfigStats> WaitForRevisionAsync(long revision, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var stats = await StatsAsync();
            if (stats.AppliedRevision >= revision)
                return stats;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{Id} is at revision {stats.AppliedRevision}, not {revision}:\n{Process.Output}");
            await Task.Delay(50);
        }
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

/// <summary>A worker's <c>/config-stats</c>.</summary>
public sealed record ConfigStats(
    long AppliedRevision,
    long SavedRevision,
    long FailedSaves,
    long UpdatesReceived,
    long BytesReceived,
    long NacksSent,
    long RouteTableRebuilds,
    bool Connected,
    LastUpdate? LastUpdate);

/// <summary>The last configuration update a worker received.</summary>
public sealed record LastUpdate(long Revision, long BaseRevision, int Upserts, int Removals, long Bytes);
