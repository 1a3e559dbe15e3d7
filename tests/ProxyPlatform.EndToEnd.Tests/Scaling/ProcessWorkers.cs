using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Scaling;

/// <summary>
/// A platform whose control planes start their own workers (the Process provider) under a data
/// directory of the test's, with the test's view of those processes: found by the data directory their
/// command line names, and killed (SIGKILL) when the test ends, since they outlive the control plane.
/// </summary>
public sealed class ProcessWorkers : IAsyncDisposable
{
    private ProcessWorkers(Platform platform, string dataDir)
    {
        Platform = platform;
        DataDir = dataDir;
    }

    public Platform Platform { get; }

    public string DataDir { get; }

    /// <param name="drainSeconds">The workers' DataPlane:DrainSeconds.</param>
    public static async Task<ProcessWorkers> StartAsync(string name, int silos = 1, double drainSeconds = 3, params string[] siloArgs)
    {
        var dataDir = Directory.CreateTempSubdirectory("proxyplatform-process-").FullName;
        var platform = await Platform.StartAsync(name, 0, silos,
            [
                "--Scaling:Provider=Process",
                $"--Scaling:Process:DataDir={dataDir}",
                "--Scaling:Process:PortRange=0",
                "--Scaling:Process:ListenAddress=127.0.0.1",
                "--Scaling:Process:MaxBackoffSeconds=2",
                "--Scaling:ReconcileSeconds=0.5",
                $"--Scaling:Process:WorkerArgs=--DataPlane:DrainSeconds={drainSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} --ControlPlane:HeartbeatSeconds=1",
                .. siloArgs,
            ]);
        return new ProcessWorkers(platform, dataDir);
    }

    /// <summary>The worker processes running for this platform, by worker ID (a launcher not yet exec'd into the worker is not one).</summary>
    public IReadOnlyList<(string Id, int Pid)> Running()
    {
        var found = new List<(string, int)>();
        var marker = $"--DataPlane:DataDir={DataDir}/";
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid))
                continue;
            string[] argv;
            try
            {
                argv = File.ReadAllText(Path.Combine(entry, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (argv.Length == 0 || Path.GetFileName(argv[0]) is "sh" or "setsid" || !argv.Any(a => a.StartsWith(marker, StringComparison.Ordinal)))
                continue;
            var id = argv.FirstOrDefault(a => a.StartsWith("--DataPlane:Id=", StringComparison.Ordinal))?["--DataPlane:Id=".Length..] ?? "?";
            found.Add((id, pid));
        }
        return found;
    }

    public static async Task<HttpResponseMessage> PatchAsync(HttpClient admin, string pool, string json, string contentType = "application/merge-patch+json")
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, $"/v1/pools/{pool}")
        {
            Content = new StringContent(json, Encoding.UTF8, contentType),
        };
        return await admin.SendAsync(request);
    }

    public async Task ScaleAsync(int replicas, Silo? silo = null)
    {
        using var response = await Eventually.Succeeds(async () =>
        {
            var answer = await PatchAsync((silo ?? Platform.Silos[0]).Admin, "default", $"{{\"replicas\": {replicas}}}");
            if (!answer.IsSuccessStatusCode)
                throw new HttpRequestException($"PATCH answered {(int)answer.StatusCode}: {await answer.Content.ReadAsStringAsync()}");
            return answer;
        }, TimeSpan.FromSeconds(60));
    }

    public static async Task<JsonElement> PoolAsync(HttpClient admin, string pool = "default")
    {
        using var response = await admin.GetAsync($"/v1/pools/{pool}");
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>Waits until the pool has exactly <paramref name="replicas"/> ready workers and no other running one; returns the pool.</summary>
    public async Task<JsonElement> WaitReadyAsync(int replicas, Silo? silo = null, TimeSpan? deadline = null)
    {
        var admin = (silo ?? Platform.Silos[0]).Admin;
        return await Eventually.Async(async () =>
        {
            try
            {
                return await PoolAsync(admin);
            }
            catch (HttpRequestException)
            {
                return default;
            }
        }, pool => pool.ValueKind == JsonValueKind.Object
            && pool.GetProperty("readyReplicas").GetInt32() == replicas
            && pool.GetProperty("actualReplicas").GetInt32() == replicas
            && Running().Count == replicas, deadline ?? TimeSpan.FromSeconds(120),
            pool => $"pool {pool}; processes {string.Join(", ", Running().Select(r => $"{r.Id}={r.Pid}"))}");
    }

    /// <summary>The proxy URLs of the pool's ready workers, as a load balancer in front would take them from the admin API.</summary>
    public static IReadOnlyList<string> ReadyProxyUrls(JsonElement pool) =>
        [.. pool.GetProperty("workers").EnumerateArray()
            .Where(w => w.GetProperty("state").GetString() == "ready" && w.GetProperty("proxyUrl").GetString() is { Length: > 0 })
            .Select(w => w.GetProperty("proxyUrl").GetString()!)];

    public async ValueTask DisposeAsync()
    {
        await Platform.DisposeAsync();
        // The workers do not die with their control plane: end them as the test's own processes.
        foreach (var (_, pid) in Running())
        {
            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(pid);
                process.Kill();
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
            {
            }
        }
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
