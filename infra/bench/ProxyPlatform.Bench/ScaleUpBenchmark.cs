using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using ProxyPlatform.Testing;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench;

/// <summary>
/// Scale-up with the Process provider: with a configuration of 10,000 routes loaded, the time from
/// <c>PATCH /v1/pools/default {"replicas": N+1}</c> to the new worker shown ready in <c>GET /v1/pools/default</c>,
/// and to its first proxied 200 through the proxyUrl the pool shows. Between runs the pool goes back to N
/// (the extra worker drains and leaves), so that each run starts from the same state.
/// </summary>
public static class ScaleUpBenchmark
{
    private const string Host = "scaleup.bench";

    public static async Task RunAsync(int runs, int routes)
    {
        var load = LoadAverage();
        var dataDir = Directory.CreateTempSubdirectory("proxyplatform-scaleup-").FullName;
        await using var backend = await TestBackend.StartAsync("bench");
        var platform = await Platform.StartAsync("scaleup", 0, 1,
        [
            "--Scaling:Provider=Process",
            $"--Scaling:Process:DataDir={dataDir}",
            "--Scaling:Process:PortRange=0",
            "--Scaling:Process:ListenAddress=127.0.0.1",
            "--Scaling:Process:WorkerArgs=--DataPlane:DrainSeconds=0.5",
        ]);
        var ready = new List<double>();
        var serving = new List<double>();
        var phases = new List<Phases>();
        try
        {
            var admin = platform.Admin;
            await platform.PutOkAsync("/v1/tenants/scaleup", new { hostnames = new[] { Host }, quotas = new { maxRoutes = 100_000 } });
            await platform.PutOkAsync("/v1/tenants/scaleup/clusters/web", new { });
            await platform.PutOkAsync($"/v1/tenants/scaleup/clusters/web/backends/{backend.Name}", new { address = backend.Address });
            var clock = Stopwatch.StartNew();
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            {
                for (var i = Interlocked.Increment(ref next); i < routes; i = Interlocked.Increment(ref next))
                {
                    using var put = await admin.PutAsync($"/v1/tenants/scaleup/routes/r{i}",
                        new StringContent($$"""{"match":{"pathPrefix":"/svc/{{i}}"},"cluster":"web"}""", Encoding.UTF8, "application/json"));
                    if (!put.IsSuccessStatusCode)
                        throw new InvalidOperationException($"PUT route r{i} answered {(int)put.StatusCode}: {await put.Content.ReadAsStringAsync()}");
                }
            }));
            Console.WriteLine($"loaded {routes:N0} routes in {clock.Elapsed.TotalSeconds:0.0} s");

            const int baseline = 1;
            await ScaleAsync(admin, baseline);
            await WaitReadyAsync(admin, baseline, TimeSpan.FromMinutes(3));
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            for (var run = 0; run < runs; run++)
            {
                // A slot's worker ID is used again by the next worker in it: new is a worker that was not ready before.
                var before = Workers(await PoolAsync(admin)).Where(w => w.State == "ready").Select(w => w.Id).ToHashSet(StringComparer.Ordinal);
                var started = Stopwatch.GetTimestamp();
                var patchedAt = DateTimeOffset.UtcNow;
                await ScaleAsync(admin, baseline + 1);
                // GET /v1/pools/default until a worker that was not there is ready; then its first 200.
                string? proxyUrl = null;
                while (proxyUrl is null)
                {
                    proxyUrl = Workers(await PoolAsync(admin)).FirstOrDefault(w => !before.Contains(w.Id) && w.State == "ready" && w.ProxyUrl.Length > 0).ProxyUrl;
                    if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromMinutes(2))
                        throw new TimeoutException("No new worker became ready within 2 minutes.");
                }
                ready.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                await FirstOkAsync(http, proxyUrl, $"/svc/{routes - 1}/x");
                serving.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                var newId = Workers(await PoolAsync(admin)).First(w => w.ProxyUrl == proxyUrl).Id;
                phases.Add(Phases.Read(Path.Combine(dataDir, "default", newId, "worker.log"), patchedAt));
                Console.WriteLine($"run {run + 1}: ready after {ready[^1]:0} ms, first 200 after {serving[^1]:0} ms ({phases[^1]})");
                await ScaleAsync(admin, baseline);
                await WaitReadyAsync(admin, baseline, TimeSpan.FromMinutes(2));
            }
            await ScaleAsync(admin, 0);
            await WaitReadyAsync(admin, 0, TimeSpan.FromMinutes(1));
        }
        finally
        {
            await platform.DisposeAsync();
            // Workers outlive their control plane: whatever is left of this run's goes with it.
            KillWorkers(dataDir);
            try
            {
                Directory.Delete(dataDir, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        var md = new StringBuilder();
        md.AppendLine("## Scale-up (Process provider)");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh scaleup` — {Machine()}. One silo with `Scaling:Provider=Process` and its defaults");
        md.AppendLine($"(reconcile every 1 s), a configuration of {routes:N0} routes (one tenant, distinct prefixes), the pool at 1 replica;");
        md.AppendLine("then `PATCH /v1/pools/default {\"replicas\": 2}` and the time until the new worker is `ready` in `GET /v1/pools/default`");
        md.AppendLine("(polled back to back), and until a request through the proxyUrl that GET shows is answered 200 by the backend.");
        md.AppendLine("Between runs the pool goes back to 1 replica (the extra worker drains and leaves).");
        if (load > 1.5)
            md.AppendLine($"**The 1-minute load average was {F(load, "0.00")} when the run started: other work was running, and these figures are not representative.**");
        md.AppendLine();
        md.AppendLine(Table(["runs", "ready: median ms", "serving: median ms", "serving min ms", "serving max ms"],
            [[runs.ToString(System.Globalization.CultureInfo.InvariantCulture), F(Percentile(ready, 50), "0"), F(Percentile(serving, 50), "0"), F(serving.Min(), "0"), F(serving.Max(), "0")]]));
        md.AppendLine($"Target: serving ≤ 3,000 ms. Runs (serving, ms): {string.Join(" / ", serving.Select(v => F(v, "0")))}.");
        md.AppendLine();
        md.AppendLine("Where the time goes (medians, ms from the PATCH, from the new worker's own log lines):");
        md.AppendLine();
        double M(Func<Phases, double> pick) => Percentile(phases.Select(pick).Where(v => !double.IsNaN(v)).ToList(), 50);
        md.AppendLine(Table(["listening (process start)", "connected to the control plane", "configuration applied", "of which compiling", "ready in GET", "serving"],
            [[F(M(p => p.Listening), "0"), F(M(p => p.Connected), "0"), F(M(p => p.Applied), "0"), F(M(p => p.CompileMs), "0"), F(Percentile(ready, 50), "0"), F(Percentile(serving, 50), "0")]]));
        WriteSection("scaleup", md.ToString());
        Console.WriteLine(md);
    }

    /// <summary>Milliseconds from the PATCH to each step the new worker logs (its log's UTC timestamps).</summary>
    private sealed record Phases(double Listening, double Connected, double Applied, double CompileMs)
    {
        public static Phases Read(string log, DateTimeOffset patchedAt)
        {
            double listening = double.NaN, connected = double.NaN, applied = double.NaN, compile = double.NaN;
            DateTimeOffset? stamp = null;
            foreach (var line in File.Exists(log) ? File.ReadLines(log) : [])
            {
                if (line.Length > 24 && line[4] == '-' && DateTimeOffset.TryParse(line[..24], System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var at))
                {
                    stamp = at;
                    continue;
                }
                if (stamp is not { } time || time < patchedAt)
                    continue;
                var ms = (time - patchedAt).TotalMilliseconds;
                if (line.Contains("Now listening on", StringComparison.Ordinal))
                    listening = ms;
                else if (line.Contains("Connected to control plane", StringComparison.Ordinal) && double.IsNaN(connected))
                    connected = ms;
                else if (line.Contains("Applied revision", StringComparison.Ordinal) && !line.Contains("last-known-good", StringComparison.Ordinal) && double.IsNaN(applied))
                {
                    applied = ms;
                    var from = line.IndexOf("compile ", StringComparison.Ordinal);
                    if (from >= 0 && double.TryParse(line[(from + 8)..].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture, out var c))
                        compile = c;
                }
            }
            return new Phases(listening, connected, applied, compile);
        }

        public override string ToString() => $"listening {Listening:0}, connected {Connected:0}, applied {Applied:0} (compile {CompileMs:0}) ms after the PATCH";
    }

    private static async Task ScaleAsync(HttpClient admin, int replicas)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, "/v1/pools/default")
        {
            Content = new StringContent($$"""{"replicas": {{replicas}}}""", Encoding.UTF8, "application/merge-patch+json"),
        };
        using var response = await admin.SendAsync(request);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"PATCH replicas={replicas} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task<JsonElement> PoolAsync(HttpClient admin)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var response = await admin.GetAsync("/v1/pools/default");
            if (response.IsSuccessStatusCode)
                return await response.Content.ReadFromJsonAsync<JsonElement>();
            // Printed, not hidden: an answer other than 200 here is a finding of its own.
            var body = await response.Content.ReadAsStringAsync();
            Console.WriteLine($"GET /v1/pools/default answered {(int)response.StatusCode}: {body}");
            if (attempt == 10)
                throw new HttpRequestException($"GET /v1/pools/default answered {(int)response.StatusCode} ten times: {body}");
            await Task.Delay(200);
        }
    }

    private static IEnumerable<(string Id, string State, string ProxyUrl)> Workers(JsonElement pool) =>
        pool.GetProperty("workers").EnumerateArray().Select(w =>
            (w.GetProperty("id").GetString()!, w.GetProperty("state").GetString()!, w.TryGetProperty("proxyUrl", out var url) ? url.GetString() ?? "" : ""));

    private static async Task WaitReadyAsync(HttpClient admin, int replicas, TimeSpan deadline)
    {
        var until = Stopwatch.GetTimestamp() + (long)(deadline.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < until)
        {
            var pool = await PoolAsync(admin);
            if (pool.GetProperty("readyReplicas").GetInt32() == replicas && pool.GetProperty("actualReplicas").GetInt32() == replicas)
                return;
            await Task.Delay(50);
        }
        throw new TimeoutException($"The pool did not settle at {replicas} ready replicas within {deadline.TotalSeconds} s.");
    }

    private static async Task FirstOkAsync(HttpClient http, string proxyUrl, string path)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 60;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, proxyUrl + path);
                request.Headers.Host = Host;
                using var response = await http.SendAsync(request);
                if (response.StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(1);
        }
        throw new TimeoutException($"The new worker never answered 200 on {proxyUrl}.");
    }

    private static void KillWorkers(string dataDir)
    {
        var marker = $"--DataPlane:DataDir={dataDir}/";
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid))
                continue;
            try
            {
                if (!File.ReadAllText(Path.Combine(entry, "cmdline")).Split('\0').Any(a => a.StartsWith(marker, StringComparison.Ordinal)))
                    continue;
                using var process = Process.GetProcessById(pid);
                process.Kill();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
            {
            }
        }
    }
}
