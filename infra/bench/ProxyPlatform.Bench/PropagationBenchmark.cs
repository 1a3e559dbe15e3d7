using System.Collections.Concurrent;
using System.Diagnostics;
using ProxyPlatform.Testing;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench;

/// <summary>
/// Propagation latency: from a write's HTTP response to the route answering on every worker,
/// with 100 and with 10,000 routes over 100 tenants, 2 workers on 2 silos. Also the durable
/// admin writes per second while loading, and the workers' memory at the larger size.
/// </summary>
public static class PropagationBenchmark
{
    private const int Tenants = 100;

    /// <summary>
    /// Set to a number of routes (e.g. <c>PROXYPLATFORM_BENCH_LOAD_ONLY=10000</c>) to time only the
    /// loading of that many routes: prints the durable writes per second and writes no results file,
    /// for comparing control-plane changes quickly.
    /// </summary>
    public const string LoadOnlyVariable = "PROXYPLATFORM_BENCH_LOAD_ONLY";

    public static async Task RunAsync(int writes)
    {
        await using var backend = await TestBackend.StartAsync("bench");
        if (int.TryParse(Environment.GetEnvironmentVariable(LoadOnlyVariable), System.Globalization.CultureInfo.InvariantCulture, out var loadOnly))
        {
            await MeasureAsync(backend, loadOnly, writes: 0);
            return;
        }
        var small = await MeasureAsync(backend, 100, writes);
        var large = await MeasureAsync(backend, 10_000, writes);

        var md = new System.Text.StringBuilder();
        md.AppendLine("## Configuration propagation (issue 3)");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh propagation` — {Machine()}. Two control-plane silos, two workers (one per silo),");
        md.AppendLine($"{Tenants} tenants. Each measured write adds a route through alternating silos; latency runs from the");
        md.AppendLine("write's HTTP response to the route answering 200 on **both** workers (each polled every ~1 ms, so figures carry ~1-2 ms of polling granularity).");
        md.AppendLine();
        md.AppendLine(Table(
            ["routes", "writes measured", "p50 ms", "p90 ms", "p99 ms", "max ms", "load: durable writes/s", "worker RSS MB"],
            new[] { small, large }.Select(r => new[]
            {
                r.Routes.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), r.Latencies.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                F(Percentile(r.Latencies, 50), "0.00"), F(Percentile(r.Latencies, 90), "0.00"), F(Percentile(r.Latencies, 99), "0.00"), F(r.Latencies.Max(), "0.00"),
                F(r.WritesPerSecond, "0"), F(r.WorkerRssMb, "0"),
            })));
        var ratio = Percentile(large.Latencies, 99) / Percentile(small.Latencies, 99);
        md.AppendLine($"p99 at 10,000 routes is **{F(ratio, "0.00")}x** the p99 at 100 routes (target ≤ 1.5x); targets: p99 ≤ 50 ms at 10,000 routes, ≥ 1,000 durable writes/s while loading, worker ≤ 250 MB at 10,000 routes.");
        md.AppendLine();
        md.AppendLine("Writes/s counts route PUTs acknowledged (committed in PostgreSQL) by the two silos under 32 concurrent clients, on the same 2 cores as everything else here.");
        WriteSection("propagation", md.ToString());
        Console.WriteLine(md);
    }

    private sealed record Run(int Routes, List<double> Latencies, double WritesPerSecond, double WorkerRssMb);

    private static async Task<Run> MeasureAsync(TestBackend backend, int routes, int writes)
    {
        Console.WriteLine($"--- {routes} routes");
        await using var platform = await Platform.StartAsync($"bench{routes}", workers: 2, silos: 2);
        for (var t = 0; t < Tenants; t++)
        {
            var silo = platform.Silos[t % 2];
            await silo.PutOkAsync($"/v1/tenants/t{t}", new { hostnames = new[] { $"t{t}.bench" } });
            await silo.PutOkAsync($"/v1/tenants/t{t}/clusters/web", new { });
            await silo.PutOkAsync($"/v1/tenants/t{t}/clusters/web/backends/b", new { address = backend.Address });
        }

        var queue = new ConcurrentQueue<int>(Enumerable.Range(0, routes));
        var max = 0L;
        var cpuBefore = CpuByPart(platform);
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 32).Select(async c =>
        {
            var silo = platform.Silos[c % 2];
            while (queue.TryDequeue(out var i))
            {
                var revision = await silo.PutOkAsync($"/v1/tenants/t{i % Tenants}/routes/r{i}", new { match = new { pathPrefix = $"/r{i}" }, cluster = "web" });
                InterlockedMax(ref max, revision);
            }
        }));
        var writesPerSecond = routes / clock.Elapsed.TotalSeconds;
        var cpuAfter = CpuByPart(platform);
        Console.WriteLine($"loaded {routes} routes at {writesPerSecond:0}/s; CPU per write: " +
            string.Join(", ", cpuAfter.Select(p => $"{p.Key} {(p.Value - cpuBefore[p.Key]).TotalMicroseconds / routes:0} µs")));
        foreach (var worker in platform.Workers)
            await worker.WaitForRevisionAsync(max, TimeSpan.FromMinutes(2));
        if (writes == 0)
            return new Run(routes, [], writesPerSecond, 0);
        GC.Collect();
        await Task.Delay(1000);
        var rss = platform.Workers.Max(w => w.Process.ResidentBytes) / 1024.0 / 1024.0;

        var latencies = new List<double>();
        for (var i = 0; i < writes; i++)
        {
            var tenant = i % Tenants;
            await platform.Silos[i % 2].PutOkAsync($"/v1/tenants/t{tenant}/routes/probe{i}", new { match = new { pathPrefix = $"/probe{i}" }, cluster = "web" });
            var written = Stopwatch.GetTimestamp();
            var seen = await Task.WhenAll(platform.Workers.Select(w => FirstOkAsync(w, $"t{tenant}.bench", $"/probe{i}")));
            latencies.Add(Stopwatch.GetElapsedTime(written, seen.Max()).TotalMilliseconds);
        }
        Console.WriteLine($"p50 {Percentile(latencies, 50):0.00} ms, p99 {Percentile(latencies, 99):0.00} ms, RSS {rss:0} MB");
        return new Run(routes, latencies, writesPerSecond, rss);
    }

    /// <summary>CPU time used so far by each part of the platform, PostgreSQL's processes and this process.</summary>
    private static Dictionary<string, TimeSpan> CpuByPart(Platform platform)
    {
        var parts = new Dictionary<string, TimeSpan>
        {
            ["silos"] = platform.Silos.Aggregate(TimeSpan.Zero, (sum, s) => sum + s.Process.CpuTime),
            ["workers"] = platform.Workers.Aggregate(TimeSpan.Zero, (sum, w) => sum + w.Process.CpuTime),
            ["postgres"] = PostgresCpu(),
            ["load client"] = Process.GetCurrentProcess().TotalProcessorTime,
        };
        return parts;
    }

    /// <summary>The CPU time of the PostgreSQL server the benchmark writes to: its postmaster (found by its port) and the postmaster's children.</summary>
    private static TimeSpan PostgresCpu()
    {
        var port = new Npgsql.NpgsqlConnectionStringBuilder(Environment.GetEnvironmentVariable("PROXYPLATFORM_TEST_POSTGRES")).Port;
        var parents = new Dictionary<int, int>();
        var postmaster = -1;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                var args = File.ReadAllText($"{dir}/cmdline").Split('\0');
                var stat = File.ReadAllText($"{dir}/stat");
                parents[pid] = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                if (args[0].EndsWith("/postgres", StringComparison.Ordinal) && string.Join(' ', args).Contains($" -p {port} ", StringComparison.Ordinal))
                    postmaster = pid;
            }
            catch (IOException)
            {
                // It exited meanwhile.
            }
        }
        var ticks = 0L;
        foreach (var (pid, parent) in parents)
        {
            if (pid != postmaster && parent != postmaster)
                continue;
            try
            {
                using var process = Process.GetProcessById(pid);
                ticks += process.TotalProcessorTime.Ticks;
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
            {
                // It exited meanwhile.
            }
        }
        return TimeSpan.FromTicks(ticks);
    }

    private static async Task<long> FirstOkAsync(Worker worker, string host, string path)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 30;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            using var response = await worker.GetAsync(host, path);
            if (response.IsSuccessStatusCode)
                return Stopwatch.GetTimestamp();
            // A hot loop on each worker would starve the two cores the platform runs on.
            await Task.Delay(1);
        }
        throw new TimeoutException($"{path} never answered on {worker.Id}");
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long current;
        while ((current = Interlocked.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
