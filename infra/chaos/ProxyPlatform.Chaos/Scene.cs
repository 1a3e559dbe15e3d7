using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ProxyPlatform.Testing;
using ProxyPlatform.Testing.Chaos;

namespace ProxyPlatform.Chaos;

/// <summary>
/// What every scenario runs in: a fresh database, two silos, two workers, two backend processes, a
/// stable route (<c>stable</c> tenant, <c>/stable</c>, never changed) under steady client load
/// through both workers, and steady admin writes to the <c>writes</c> tenant.
/// </summary>
public sealed class Scene : IAsyncDisposable
{
    /// <summary>The stable cluster's settings: health checks every second, idempotent requests retried on the other backend.</summary>
    public static readonly object StableCluster = new
    {
        loadBalancing = "RoundRobin",
        healthCheck = new { path = "/healthz", intervalSeconds = 1, timeoutSeconds = 1, healthyThreshold = 2, unhealthyThreshold = 2 },
        retry = new { maxAttempts = 3, retryOn = new[] { "connect-failure", "reset", "502", "503", "504" } },
        timeouts = new { connectSeconds = 1, responseHeadersSeconds = 2 },
    };

    private readonly HttpClient[] _admins;
    private int _probes;

    private Scene(Platform platform, BackendProcess a, BackendProcess b)
    {
        Platform = platform;
        A = a;
        B = b;
        _admins = platform.Silos.Select(silo =>
        {
            var client = new HttpClient { BaseAddress = new Uri(silo.AdminUrl), Timeout = AdminWrites.Timeout };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.OperatorKey);
            return client;
        }).ToArray();
    }

    public Platform Platform { get; }
    public BackendProcess A { get; }
    public BackendProcess B { get; }
    public StableTraffic Traffic { get; private set; } = null!;
    public AdminWrites Writes { get; private set; } = null!;

    /// <param name="backendIp">Where the backends listen (workers in another network namespace need an address other than loopback).</param>
    /// <param name="secondWorker">Starts the second worker (default: like the first, preferring the second silo).</param>
    public static async Task<Scene> StartAsync(PostgresServer postgres, string name, Settings settings, int writesPerSecond,
        string backendIp = "127.0.0.1", string[]? siloArgs = null, Func<Platform, Task<Worker>>? secondWorker = null)
    {
        var a = await BackendProcess.StartAsync("a", backendIp);
        var b = await BackendProcess.StartAsync("b", backendIp);
        var platform = await Platform.StartAsync(postgres, name, workers: 1, silos: 2, connection: null, siloArgs ?? []);
        var scene = new Scene(platform, a, b);
        try
        {
            if (secondWorker is null)
                await platform.StartWorkerAsync("worker-2", preferredSilo: 1);
            else
                await secondWorker(platform);
            await AdminWrites.CreateTenantAsync(platform, "stable", [(a.Name, a.Address), (b.Name, b.Address)], StableCluster);
            await platform.PutOkAsync("/v1/tenants/stable/routes/main", new { match = new { pathPrefix = "/stable" }, cluster = "web" });
            await AdminWrites.CreateTenantAsync(platform, "writes", [(a.Name, a.Address)]);
            foreach (var worker in platform.Workers)
                (await worker.WaitForStatusAsync(AdminWrites.HostOf("stable"), "/stable", 200, TimeSpan.FromMinutes(2))).Dispose();
            // Both backends healthy on both workers before the load starts.
            await Eventually.Async(async () => (await VerdictsAsync(scene)) is ["Healthy", "Healthy"], TimeSpan.FromMinutes(2), () => "the stable backends are not both healthy");
            scene.Traffic = StableTraffic.Start(platform.Workers, AdminWrites.HostOf("stable"), "/stable", settings.RequestsPerSecond);
            scene.Writes = AdminWrites.Start(platform, "writes", "web", writesPerSecond);
            await Task.Delay(settings.Settle);
            return scene;
        }
        catch
        {
            await scene.DisposeAsync();
            throw;
        }
    }

    /// <summary>The health verdicts of the stable cluster's backends, as the first silo that answers has them.</summary>
    public Task<string[]> VerdictsAsync() => VerdictsAsync(this);

    private static async Task<string[]> VerdictsAsync(Scene scene)
    {
        foreach (var admin in scene._admins)
        {
            try
            {
                using var response = await admin.GetAsync("/v1/tenants/stable/clusters/web/backends");
                if (!response.IsSuccessStatusCode)
                    continue;
                using var list = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                return list.RootElement.GetProperty("items").EnumerateArray()
                    .OrderBy(i => i.GetProperty("id").GetString())
                    .Select(i => i.TryGetProperty("health", out var h) && h.TryGetProperty("verdict", out var v) ? v.GetString() ?? "" : "")
                    .ToArray();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
        }
        return [];
    }

    /// <summary>
    /// Time from <paramref name="since"/> until the platform takes a write again and every worker has applied it:
    /// a probe route is written through the silos in turn until one acknowledges it.
    /// </summary>
    public async Task<TimeSpan> RecoveryAsync(Stopwatch since, TimeSpan patience)
    {
        var body = JsonSerializer.Serialize(new { match = new { pathPrefix = "/probe/" }, cluster = "web" });
        long revision = 0;
        while (revision == 0)
        {
            if (since.Elapsed > patience)
                throw new TimeoutException($"No write was acknowledged within {patience.TotalSeconds:0} s.");
            var admin = _admins[_probes++ % _admins.Length];
            try
            {
                using var response = await admin.PutAsync($"/v1/tenants/writes/routes/probe-{_probes}", new StringContent(body, Encoding.UTF8, "application/json"));
                if (response.IsSuccessStatusCode)
                {
                    revision = long.Parse(response.Headers.GetValues("X-Config-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture);
                    // One probe route at a time: the next probe replaces this one.
                    await admin.DeleteAsync($"/v1/tenants/writes/routes/probe-{_probes}");
                    break;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        foreach (var worker in Platform.Workers)
            await worker.WaitForRevisionAsync(revision, patience);
        return since.Elapsed;
    }

    /// <summary>The silo whose log says it loaded the default pool last: where the pool's distribution grain lives.</summary>
    public Silo DistributionSilo() =>
        Platform.Silos.FirstOrDefault(s => s.Process.IsRunning && s.Process.Output.Contains("Pool default loaded at revision", StringComparison.Ordinal))
        ?? throw new InvalidOperationException("No silo says it loaded the default pool.");

    public async ValueTask DisposeAsync()
    {
        if (Traffic is not null)
            await Traffic.DisposeAsync();
        if (Writes is not null)
            await Writes.DisposeAsync();
        foreach (var admin in _admins)
            admin.Dispose();
        await Platform.DisposeAsync();
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}

/// <summary>How long and how hard the scenarios run.</summary>
public sealed record Settings(bool Short)
{
    public int RequestsPerSecond => 100;
    public int WritesPerSecond => 5;
    /// <summary>Load before a fault and after recovery.</summary>
    public TimeSpan Settle => TimeSpan.FromSeconds(Short ? 2 : 5);
    public TimeSpan ControlPlaneDown => TimeSpan.FromSeconds(Short ? 10 : 60);
    public TimeSpan PostgresDown => TimeSpan.FromSeconds(Short ? 8 : 30);
    public TimeSpan Storm => TimeSpan.FromSeconds(Short ? 10 : 60);
    public TimeSpan NetworkFault => TimeSpan.FromSeconds(Short ? 10 : 30);
    /// <summary>How long a backend scenario watches the traffic after the verdict.</summary>
    public TimeSpan AfterVerdict => TimeSpan.FromSeconds(Short ? 4 : 10);
    public TimeSpan Patience => TimeSpan.FromMinutes(3);
}
