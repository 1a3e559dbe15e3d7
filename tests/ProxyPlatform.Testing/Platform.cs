using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;

namespace ProxyPlatform.Testing;

/// <summary>
/// A whole platform on loopback: a fresh database on the run's PostgreSQL, control-plane silos
/// forming one Orleans cluster, and data-plane worker processes. Their listeners bind port 0 and
/// the processes say which ports they got; a restarted silo comes back on the ports of its first
/// start, where the workers look for it (see <see cref="Silo.StartAsync"/>).
/// </summary>
public sealed class Platform : IAsyncDisposable
{
    private readonly string _dataRoot = Directory.CreateTempSubdirectory("proxyplatform-e2e-").FullName;
    private readonly string _clusterId = $"e2e-{Guid.NewGuid():N}";

    private Platform(string connectionString, int silos, string[] siloArgs)
    {
        ConnectionString = connectionString;
        // A platform started with Auth:Disabled=true (a developer's machine) has no credentials to present.
        CredentialsOn = !siloArgs.Contains("--Auth:Disabled=true");
        // Every silo seals secrets with the same generated key, as a deployment's would; a test can give its own Secrets:Keys.
        if (!siloArgs.Any(a => a.StartsWith("--Secrets:", StringComparison.Ordinal)))
            siloArgs = ["--Secrets:Keys:0:Id=test", $"--Secrets:Keys:0:Key={SecretsKey}", .. siloArgs];
        for (var i = 0; i < silos; i++)
            Silos.Add(new Silo(connectionString, _clusterId, CredentialsOn ? OperatorKey : null, WorkerToken, siloArgs));
    }

    /// <summary>The key the silos seal private keys with (<c>Secrets:Keys:0</c>, id <c>test</c>), base64 of 32 random bytes.</summary>
    public string SecretsKey { get; } = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary>False when the platform runs without credentials (<c>Auth:Disabled=true</c>).</summary>
    public bool CredentialsOn { get; }

    /// <summary>The bootstrap operator key of this platform's control planes (<c>Auth:OperatorKey</c>): every <see cref="Silo.Admin"/> client presents it.</summary>
    public string OperatorKey { get; } = $"op-{Guid.NewGuid():N}";

    /// <summary>The bootstrap worker token (<c>Auth:DataPlaneToken</c>) workers present unless a test gives them another.</summary>
    public string WorkerToken { get; } = $"dp-{Guid.NewGuid():N}";

    /// <summary>The silos' connection string: the platform's own database on the run's PostgreSQL.</summary>
    public string ConnectionString { get; }

    public List<Silo> Silos { get; } = [];
    public List<Worker> Workers { get; } = [];

    /// <summary>The first silo's admin API.</summary>
    public HttpClient Admin => Silos[0].Admin;
    public string AdminUrl => Silos[0].AdminUrl;
    public string GrpcUrl => Silos[0].GrpcUrl;

    public static Task<Platform> StartAsync(string name, int workers = 1, int silos = 1, params string[] siloArgs) =>
        StartAsync(name, workers, silos, connection: null, siloArgs);

    /// <param name="connection">Changes the silos' connection string, e.g. to replace the test pools' settings (see <see cref="PostgresServer.CreateDatabaseAsync"/>).</param>
    public static async Task<Platform> StartAsync(string name, int workers, int silos, Action<NpgsqlConnectionStringBuilder>? connection, params string[] siloArgs) =>
        await StartAsync(await PostgresServer.GetAsync(), name, workers, silos, connection, siloArgs);

    /// <summary>A platform on a database of <paramref name="postgres"/> (e.g. a server of one's own that a test stops and starts).</summary>
    public static async Task<Platform> StartAsync(PostgresServer postgres, string name, int workers, int silos, Action<NpgsqlConnectionStringBuilder>? connection, params string[] siloArgs)
    {
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
    public Task<Worker> StartWorkerAsync(string id, int preferredSilo = 0, params string[] args) =>
        StartWorkerAsync([], id, preferredSilo, args);

    /// <summary>
    /// Starts a worker through <paramref name="launcher"/>, a command that runs the worker's own command line
    /// (e.g. <c>ip netns exec NS</c>, to run it in another network namespace); empty: none.
    /// </summary>
    public async Task<Worker> StartWorkerAsync(string[] launcher, string id, int preferredSilo, params string[] args)
    {
        var urls = Silos.Skip(preferredSilo).Concat(Silos.Take(preferredSilo)).Select(s => s.GrpcUrl);
        if (CredentialsOn && !args.Any(a => a.StartsWith("--DataPlane:Token=", StringComparison.Ordinal)))
            args = [$"--DataPlane:Token={WorkerToken}", .. args];
        var worker = new Worker(id, Path.Combine(_dataRoot, id), string.Join(',', urls), args) { Launcher = launcher };
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

    /// <summary>Creates a tenant that owns <paramref name="hosts"/>; returns its revision.</summary>
    public Task<long> PutTenantAsync(string tenant, params string[] hosts) =>
        PutOkAsync($"/v1/tenants/{tenant}", new { displayName = tenant, hostnames = hosts });

    /// <summary>Creates a cluster with <paramref name="spec"/> and its backends (<c>name → address</c>, weight); returns the last revision.</summary>
    public async Task<long> PutClusterAsync(string tenant, string cluster, object spec, params (string Name, string Address, int Weight)[] backends)
    {
        var revision = await PutOkAsync($"/v1/tenants/{tenant}/clusters/{cluster}", spec);
        foreach (var (name, address, weight) in backends)
            revision = await PutOkAsync($"/v1/tenants/{tenant}/clusters/{cluster}/backends/{name}", new { address, weight, enabled = true });
        return revision;
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
public sealed partial class Silo : IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly string _clusterId;
    // Orleans advertises its endpoints in the membership table before it binds them, so they cannot be 0.
    private readonly int _siloPort = ReservedPorts.Take();
    private readonly int _gatewayPort = ReservedPorts.Take();
    private readonly string[] _args;
    private readonly string? _operatorKey;
    private string? _adminUrl;
    private string? _grpcUrl;
    private string? _opsUrl;
    private HttpClient? _admin;

    /// <param name="operatorKey">The bootstrap operator key; null for a control plane started without credentials.</param>
    public Silo(string connectionString, string clusterId, string? operatorKey, string workerToken, string[] args)
    {
        _operatorKey = operatorKey;
        // Tests run with credentials, as a deployment must. The suites send many refused credentials
        // from 127.0.0.1 on purpose, which would otherwise slow that address down.
        _args = operatorKey is null
            ? args
            : [$"--Auth:OperatorKey={operatorKey}", $"--Auth:DataPlaneToken={workerToken}", "--Auth:FailedAttemptsBurst=100000", .. args];
        _connectionString = connectionString;
        _clusterId = clusterId;
    }

    public string AdminUrl => _adminUrl ?? throw NotStarted();
    public string GrpcUrl => _grpcUrl ?? throw NotStarted();
    /// <summary>The control plane's ops listener: <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>, without credentials.</summary>
    public string OpsUrl => _opsUrl ?? throw NotStarted();
    public HttpClient Admin => _admin ?? throw NotStarted();
    public PlatformProcess Process { get; private set; } = null!;

    /// <summary>
    /// Starts the silo. The first start binds the admin and gRPC listeners to port 0 and learns the
    /// ports from the ready line; a restart asks for those same ports again, because the workers
    /// were told the gRPC one. Between the kill and the restart the ports are free: another
    /// listener on the machine that asks for port 0 could be given one in that window. It is a few
    /// seconds among ~28,000 ephemeral ports, and outgoing connections cannot take a port from a
    /// listener (.NET binds with SO_REUSEADDR).
    /// </summary>
    public async Task StartAsync()
    {
        if (Process is not null)
            await Process.DisposeAsync();
        Process = PlatformProcess.ControlPlane(
            [$"--ConnectionStrings:Postgres={_connectionString}",
            $"--Admin:Url={_adminUrl ?? "http://127.0.0.1:0"}",
            $"--Grpc:Url={_grpcUrl ?? "http://127.0.0.1:0"}",
            $"--Ops:Url={_opsUrl ?? "http://127.0.0.1:0"}",
            $"--Orleans:SiloPort={_siloPort}",
            $"--Orleans:GatewayPort={_gatewayPort}",
            $"--Orleans:ClusterId={_clusterId}", .. _args]);
        var ready = await Process.StartAsync(ReadyLine());
        _adminUrl = ready.Groups["admin"].Value;
        _grpcUrl = ready.Groups["grpc"].Value;
        _opsUrl = ready.Groups["ops"].Value;
        _admin ??= Client(_operatorKey);
    }

    /// <summary>A client of this silo's admin API that presents <paramref name="key"/> (none when null).</summary>
    public HttpClient Client(string? key)
    {
        var client = new HttpClient { BaseAddress = new Uri(AdminUrl), Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null)
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>The control plane's "ready" log line, naming the URLs its listeners were bound to.</summary>
    [GeneratedRegex(@"Control plane ready: admin (?<admin>https?://[^\s,]+), gRPC (?<grpc>https?://[^\s,]+), ops (?<ops>https?://[^\s,]+),")]
    private static partial Regex ReadyLine();

    private static InvalidOperationException NotStarted() => new("The silo has not been started yet: its ports are chosen when it starts.");

    public Task<HttpResponseMessage> PutAsync(string path, object body) =>
        Admin.PutAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));

    public Task<HttpResponseMessage> PutRawAsync(string path, string json) =>
        Admin.PutAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    /// <summary>
    /// A PUT that must succeed; returns the revision it took effect at. A 503 of type <c>unavailable</c>
    /// (the control plane could not finish in time, nothing was acknowledged) is sent again, as the
    /// answer asks: a PUT is idempotent, and one that did commit meanwhile answers its revision.
    /// </summary>
    public Task<long> PutOkAsync(string path, object body)
    {
        var json = JsonSerializer.Serialize(body);
        return Eventually.Succeeds(async () =>
        {
            using var response = await PutRawAsync(path, json);
            return await RevisionOfAsync(response, "PUT", path);
        }, TimeSpan.FromMinutes(2), e => e is HttpRequestException { StatusCode: HttpStatusCode.ServiceUnavailable });
    }

    public async Task<long> DeleteOkAsync(string path)
    {
        using var response = await Admin.DeleteAsync(path);
        return await RevisionOfAsync(response, "DELETE", path);
    }

    private async Task<long> RevisionOfAsync(HttpResponseMessage response, string method, string path)
    {
        var text = await response.Content.ReadAsStringAsync();
        var failure = $"{method} {path} answered {(int)response.StatusCode}: {text}\n--- control plane ---\n{Process.Output}";
        if (response.StatusCode == HttpStatusCode.ServiceUnavailable && text.Contains("/problems/unavailable", StringComparison.Ordinal))
            throw new HttpRequestException(failure, null, HttpStatusCode.ServiceUnavailable);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException(failure);
        return long.Parse(response.Headers.GetValues("X-Config-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        _admin?.Dispose();
        if (Process is not null)
            await Process.DisposeAsync();
    }
}

/// <summary>
/// A data-plane worker process with its proxy and ops listeners. Every start binds them to port 0,
/// so a restarted worker may answer on other ports: <see cref="ProxyUrl"/>, <see cref="OpsUrl"/>,
/// <see cref="H2cUrl"/>, <see cref="HttpsUrl"/> and <see cref="Client"/> always name the current ones.
/// </summary>
public sealed partial class Worker(string id, string dataDir, string controlPlaneUrl, string[] extraArgs) : IAsyncDisposable
{
    private string? _proxyUrl;
    private string? _opsUrl;

    public string Id { get; } = id;
    /// <summary>A command the worker's command line is run through (e.g. <c>ip netns exec NS</c>); empty: none.</summary>
    public IReadOnlyList<string> Launcher { get; init; } = [];
    /// <summary>Where the worker keeps its last-known-good file (<c>DataPlane:DataDir</c>).</summary>
    public string DataDir { get; } = dataDir;
    public string ProxyUrl => _proxyUrl ?? throw NotStarted();
    public string OpsUrl => _opsUrl ?? throw NotStarted();
    /// <summary>The HTTP/2-only cleartext listener, when the worker was started with <c>--Proxy:H2cUrl=http://127.0.0.1:0</c>.</summary>
    public string? H2cUrl { get; private set; }
    /// <summary>The TLS listener (<c>Proxy:HttpsUrl</c>, on loopback port 0 unless the test says otherwise); null when started with <c>--Proxy:HttpsUrl=off</c>.</summary>
    public string? HttpsUrl { get; private set; }
    public PlatformProcess Process { get; private set; } = null!;
    /// <summary>A client of the proxy listener (a new one after each start).</summary>
    public HttpClient Client { get; private set; } = null!;

    public async Task StartAsync()
    {
        if (Process is not null)
            await Process.DisposeAsync();
        Process = PlatformProcess.DataPlane(Launcher,
            [$"--ControlPlane:Url={controlPlaneUrl}",
            "--Proxy:Url=http://127.0.0.1:0",
            "--Ops:Url=http://127.0.0.1:0",
            "--Proxy:HttpsUrl=https://127.0.0.1:0",
            $"--DataPlane:Id={Id}",
            $"--DataPlane:DataDir={DataDir}", .. extraArgs]);
        var ready = await Process.StartAsync(ReadyLine());
        _proxyUrl = ready.Groups["proxy"].Value;
        _opsUrl = ready.Groups["ops"].Value;
        H2cUrl = ready.Groups["h2c"].Success ? ready.Groups["h2c"].Value : null;
        HttpsUrl = ready.Groups["https"].Success ? ready.Groups["https"].Value : null;
        Client?.Dispose();
        Client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(1) })
        {
            BaseAddress = new Uri(_proxyUrl),
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    /// <summary>The worker's "ready" log line, naming the URLs its listeners were bound to.</summary>
    [GeneratedRegex(@"ready: proxy (?<proxy>http://[^\s,]+)(?: and (?<h2c>http://[^\s,]+) \(h2c\))?(?: and (?<https>https://[^\s,]+) \(TLS\))?, ops (?<ops>http://[^\s,]+),")]
    private static partial Regex ReadyLine();

    private static InvalidOperationException NotStarted() => new("The worker has not been started yet: its ports are chosen when it starts.");

    /// <summary>Kills the worker as a crash would; <see cref="StartAsync"/> brings it back with the same identity and data folder.</summary>
    public Task KillAsync() => Process.KillAsync();

    /// <summary>The worker's configuration-stream counters from its ops listener.</summary>
    public async Task<ConfigStats> StatsAsync()
    {
        using var ops = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var text = await ops.GetStringAsync($"{OpsUrl}/config-stats");
        return JsonSerializer.Deserialize<ConfigStats>(text, JsonSerializerOptions.Web)!;
    }

    /// <summary>Waits until the worker has applied <paramref name="revision"/> (or later).</summary>
    public async Task<ConfigStats> WaitForRevisionAsync(long revision, TimeSpan? timeout = null)
    {
        var reading = await Eventually.Async(async () =>
        {
            try
            {
                return (Stats: await StatsAsync(), Seen: "");
            }
            catch (Exception e) when (IsUnanswered(e))
            {
                return (Stats: (ConfigStats?)null, Seen: e.Message);
            }
        }, r => r.Stats?.AppliedRevision >= revision, timeout,
            r => $"{Id} is at revision {(r.Stats is { } stats ? stats.AppliedRevision : r.Seen)}, not {revision}:\n{Process.Output}");
        return reading.Stats!;
    }

    /// <summary>
    /// A request that got no answer: refused, reset, or timed out. While a test polls, that is one
    /// reading (a machine busy with other work can stall a process for seconds), not the end of the wait.
    /// </summary>
    private static bool IsUnanswered(Exception e) => e is HttpRequestException or TaskCanceledException;

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

    /// <summary>Waits until a GET through this worker answers <paramref name="status"/> (config propagates asynchronously); returns that answer.</summary>
    public async Task<HttpResponseMessage> WaitForStatusAsync(string host, string path, int status, TimeSpan? timeout = null)
    {
        var reading = await Eventually.Async(async () =>
        {
            try
            {
                var response = await GetAsync(host, path);
                if ((int)response.StatusCode == status)
                    return (Answer: response, Seen: "");
                using (response)
                    return (Answer: (HttpResponseMessage?)null, Seen: $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
            catch (Exception e) when (IsUnanswered(e))
            {
                return (Answer: null, Seen: e.Message);
            }
        }, r => r.Answer is not null, timeout,
            r => $"GET {host}{path} through {Id} still answers {r.Seen}, not {status}\n--- worker output ---\n{Process.Output}");
        return reading.Answer!;
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
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
