using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;
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
    private const int Clients = 32;
    private const int WarmUpRoutes = 1_000;
    private static readonly TimeSpan SettleTime = TimeSpan.FromSeconds(5);
    private const double SlowWriteMs = 25;
    /// <summary>Set (to anything), the benchmark prints each measured write slower than <see cref="SlowWriteMs"/>.</summary>
    public const string TraceSlowWritesVariable = "PROXYPLATFORM_BENCH_TRACE_SLOW";
    private static readonly bool TraceSlowWrites = Environment.GetEnvironmentVariable(TraceSlowWritesVariable) is not null;

    /// <summary>
    /// Set to a number of routes (e.g. <c>PROXYPLATFORM_BENCH_LOAD_ONLY=10000</c>) to time only the
    /// loading of that many routes: prints the durable writes per second and writes no results file,
    /// for comparing control-plane changes quickly.
    /// </summary>
    public const string LoadOnlyVariable = "PROXYPLATFORM_BENCH_LOAD_ONLY";

    public static async Task RunAsync(int writes, int runs)
    {
        await using var backend = await TestBackend.StartAsync("bench");
        if (int.TryParse(Environment.GetEnvironmentVariable(LoadOnlyVariable), System.Globalization.CultureInfo.InvariantCulture, out var loadOnly))
        {
            for (var run = 0; run < runs; run++)
                await MeasureAsync(backend, loadOnly, writes: 0);
            return;
        }
        var load = LoadAverage();
        // Each run starts the platform afresh for each size; the sizes alternate so that a slow
        // spell of this shared machine does not land on one size only.
        var small = new List<Run>();
        var large = new List<Run>();
        for (var run = 0; run < runs; run++)
        {
            small.Add(await MeasureAsync(backend, 100, writes));
            large.Add(await MeasureAsync(backend, 10_000, writes));
        }

        var md = new System.Text.StringBuilder();
        md.AppendLine("## Configuration propagation");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh propagation` — {Machine()}. Two control-plane silos, two workers (one per silo),");
        md.AppendLine($"{Tenants} tenants. Each measured write adds a route through alternating silos; latency runs from the");
        md.AppendLine("write's HTTP response to the route answering 200 on **both** workers (each polled every ~1 ms, so figures carry ~1-2 ms of polling granularity).");
        md.AppendLine($"{runs} runs, each on a freshly started platform; latency percentiles are over the writes of all runs together, the other figures are medians of the runs.");
        md.AppendLine($"The measured writes start {SettleTime.TotalSeconds:0} s after the load, once each worker has answered a 404 and a 200 for every tenant; the silos use Npgsql's default pool settings, not the test suite's.");
        if (load > 1.5)
            md.AppendLine($"**The 1-minute load average was {F(load, "0.00")} when the run started: other work was running, and these figures are not representative.**");
        md.AppendLine();
        md.AppendLine(Table(
            ["routes", "writes measured", "p50 ms", "p90 ms", "p99 ms", "max ms", "load: durable writes/s", "runs (writes/s)", "warm-up (cold) writes/s", "worker RSS MB"],
            new[] { small, large }.Select(r =>
            {
                var latencies = Pooled(r);
                return new[]
                {
                    r[0].Routes.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), latencies.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    F(Percentile(latencies, 50), "0.00"), F(Percentile(latencies, 90), "0.00"), F(Percentile(latencies, 99), "0.00"), F(latencies.Max(), "0.00"),
                    F(Median(r.Select(x => x.WritesPerSecond)), "0"), string.Join(" / ", r.Select(x => F(x.WritesPerSecond, "0"))),
                    F(Median(r.Select(x => x.ColdWritesPerSecond)), "0"), F(Median(r.Select(x => x.WorkerRssMb)), "0"),
                };
            })));
        var ratio = Percentile(Pooled(large), 99) / Percentile(Pooled(small), 99);
        md.AppendLine($"p99 at 10,000 routes is **{F(ratio, "0.00")}x** the p99 at 100 routes (target ≤ 1.5x); targets: p99 ≤ 50 ms at 10,000 routes, ≥ 1,000 durable writes/s while loading, worker ≤ 250 MB at 10,000 routes.");
        md.AppendLine();
        md.AppendLine($"Writes/s counts route PUTs acknowledged (committed in PostgreSQL) by the two silos under {Clients} concurrent clients, on the same 2 cores as everything else here.");
        md.AppendLine($"Before the load, the freshly started processes are warmed up by {2 * WarmUpRoutes:N0} writes ({WarmUpRoutes:N0} routes added to and removed from a tenant of their own):");
        md.AppendLine("the JIT compiles and recompiles the write path of every process during its first thousands of calls, once per process; the warm-up column is that cold rate.");
        md.AppendLine("CPU per write while loading 10,000 routes (medians): " + string.Join(", ", large[0].CpuPerWrite.Keys.Select(part =>
            $"{part} {F(Median(large.Select(x => x.CpuPerWrite[part])), "0")} µs")) + ".");
        WriteSection("propagation", md.ToString());
        Console.WriteLine(md);
    }

    private static double Median(IEnumerable<double> values) => Percentile(values.ToList(), 50);

    /// <summary>The latencies of all runs together.</summary>
    private static List<double> Pooled(List<Run> runs) => [.. runs.SelectMany(r => r.Latencies)];

    private sealed record Run(int Routes, List<double> Latencies, double WritesPerSecond, double ColdWritesPerSecond, double WorkerRssMb, Dictionary<string, double> CpuPerWrite);

    /// <summary>
    /// Sends <paramref name="count"/> writes from concurrent clients, alternating between the two
    /// silos, and returns the highest revision they answered.
    /// </summary>
    private static async Task<long> LoadAsync(Platform platform, int count, Func<Silo, int, Task<long>> write)
    {
        var queue = new ConcurrentQueue<int>(Enumerable.Range(0, count));
        var max = 0L;
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(async c =>
        {
            var silo = platform.Silos[c % 2];
            while (queue.TryDequeue(out var i))
                InterlockedMax(ref max, await write(silo, i));
        }));
        return max;
    }

    private static Task<long> PutRouteAsync(Silo silo, string tenant, string route) =>
        silo.PutOkAsync($"/v1/tenants/{tenant}/routes/{route}", new { match = new { pathPrefix = $"/{route}" }, cluster = "web" });

    private static async Task<Run> MeasureAsync(TestBackend backend, int routes, int writes)
    {
        Console.WriteLine($"--- {routes} routes");
        // The silos get Npgsql's own pool settings, as a deployment does, not the test suite's (which
        // closes connections idle for 10 s, so that many test classes can share one server).
        await using var platform = await Platform.StartAsync($"bench{routes}", workers: 2, silos: 2, connection: ProductionPools);
        for (var t = 0; t < Tenants; t++)
        {
            var silo = platform.Silos[t % 2];
            await silo.PutOkAsync($"/v1/tenants/t{t}", new { hostnames = new[] { $"t{t}.bench" } });
            await silo.PutOkAsync($"/v1/tenants/t{t}/clusters/web", new { });
            await silo.PutOkAsync($"/v1/tenants/t{t}/clusters/web/backends/b", new { address = backend.Address });
        }

        // Warm-up, untimed for the load figure: the JIT compiles and re-compiles the write path of
        // every process (silos, workers, this client) during its first thousands of calls, once per
        // process. A tenant of its own gets WarmUpRoutes routes and loses them again, so the measured
        // pool holds exactly the routes below. Its rate is reported as the cold rate.
        await platform.Silos[0].PutOkAsync("/v1/tenants/warmup", new { hostnames = new[] { "warmup.bench" } });
        await platform.Silos[0].PutOkAsync("/v1/tenants/warmup/clusters/web", new { });
        await platform.Silos[0].PutOkAsync("/v1/tenants/warmup/clusters/web/backends/b", new { address = backend.Address });
        var cold = Stopwatch.StartNew();
        await LoadAsync(platform, WarmUpRoutes, (silo, i) => PutRouteAsync(silo, "warmup", $"w{i}"));
        await LoadAsync(platform, WarmUpRoutes, (silo, i) => silo.DeleteOkAsync($"/v1/tenants/warmup/routes/w{i}"));
        var coldWritesPerSecond = 2 * WarmUpRoutes / cold.Elapsed.TotalSeconds;

        var cpuBefore = CpuByPart(platform);
        var clock = Stopwatch.StartNew();
        var max = await LoadAsync(platform, routes, (silo, i) => PutRouteAsync(silo, $"t{i % Tenants}", $"r{i}"));
        var writesPerSecond = routes / clock.Elapsed.TotalSeconds;
        var cpuAfter = CpuByPart(platform);
        var cpuPerWrite = cpuAfter.ToDictionary(p => p.Key, p => (p.Value - cpuBefore[p.Key]).TotalMicroseconds / routes);
        Console.WriteLine($"loaded {routes} routes at {writesPerSecond:0}/s (cold, during the warm-up: {coldWritesPerSecond:0}/s); CPU per write: " +
            string.Join(", ", cpuPerWrite.Select(p => $"{p.Key} {p.Value:0} µs")));
        foreach (var worker in platform.Workers)
            await worker.WaitForRevisionAsync(max, TimeSpan.FromMinutes(2));
        if (writes == 0)
            return new Run(routes, [], writesPerSecond, coldWritesPerSecond, 0, cpuPerWrite);
        // The workers have not proxied anything yet: their first requests JIT the proxy path (the
        // 404 of a route not there yet included) and open each tenant's backend connections, which
        // is not propagation. A platform in service has done both long before.
        foreach (var worker in platform.Workers)
        {
            for (var t = 0; t < Tenants; t++)
            {
                using (await worker.GetAsync($"t{t}.bench", "/absent"))
                {
                }
                await FirstOkAsync(worker, $"t{t}.bench", $"/r{t}");
            }
        }
        // The latency is that of a platform holding this many routes, not of one still digesting the
        // load: PostgreSQL's autovacuum and checkpoint, the background JIT and the GCs that follow a
        // bulk load otherwise pause the first measured writes (see docs/benchmarks.md).
        GC.Collect();
        await Task.Delay(SettleTime);
        var rss = platform.Workers.Max(w => w.Process.ResidentBytes) / 1024.0 / 1024.0;

        var latencies = new List<double>();
        for (var i = 0; i < writes; i++)
        {
            var tenant = i % Tenants;
            await PutRouteAsync(platform.Silos[i % 2], $"t{tenant}", $"probe{i}");
            var written = Stopwatch.GetTimestamp();
            var seen = await Task.WhenAll(platform.Workers.Select(w => FirstOkAsync(w, $"t{tenant}.bench", $"/probe{i}")));
            var latency = Stopwatch.GetElapsedTime(written, seen.Max()).TotalMilliseconds;
            latencies.Add(latency);
            // For lining slow writes up with a trace: wall clock, the monotonic clock perf uses (-k mono), each worker's latency.
            if (latency > SlowWriteMs && TraceSlowWrites)
                Console.WriteLine($"slow write {i} via silo {i % 2} at {DateTime.UtcNow:HH:mm:ss.fff} (monotonic {written} ns): " + string.Join(" / ", seen.Select(s => $"{Stopwatch.GetElapsedTime(written, s).TotalMilliseconds:0.0} ms")));
        }
        Console.WriteLine($"p50 {Percentile(latencies, 50):0.00} ms, p99 {Percentile(latencies, 99):0.00} ms, RSS {rss:0} MB");
        return new Run(routes, latencies, writesPerSecond, coldWritesPerSecond, rss, cpuPerWrite);
    }

    /// <summary>Npgsql's own pool settings, as a deployment has them, instead of the test suite's.</summary>
    internal static void ProductionPools(NpgsqlConnectionStringBuilder connection)
    {
        var defaults = new NpgsqlConnectionStringBuilder();
        connection.MaxPoolSize = defaults.MaxPoolSize;
        connection.ConnectionIdleLifetime = defaults.ConnectionIdleLifetime;
        connection.ConnectionPruningInterval = defaults.ConnectionPruningInterval;
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

    /// <summary>
    /// The CPU time of the PostgreSQL server the benchmark writes to: its postmaster (found by its
    /// port), the postmaster's live children, and the children it has already reaped. Read from
    /// <c>/proc/&lt;pid&gt;/stat</c> (utime, stime, cutime, cstime), which, unlike
    /// <see cref="Process.TotalProcessorTime"/>, also counts processes of another user.
    /// </summary>
    private static TimeSpan PostgresCpu()
    {
        var port = new NpgsqlConnectionStringBuilder(Environment.GetEnvironmentVariable("PROXYPLATFORM_TEST_POSTGRES")).Port;
        var stats = new Dictionary<int, string[]>();
        var postmaster = -1;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                var args = File.ReadAllText($"{dir}/cmdline").Split('\0');
                var stat = File.ReadAllText($"{dir}/stat");
                // Fields after the command name, which is in parentheses and may contain spaces: [0] state, [1] ppid, ...
                stats[pid] = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (args[0].EndsWith("/postgres", StringComparison.Ordinal) && string.Join(' ', args).Contains($" -p {port} ", StringComparison.Ordinal))
                    postmaster = pid;
            }
            catch (IOException)
            {
                // It exited meanwhile.
            }
        }
        static long Ticks(string[] fields, int from, int count) =>
            Enumerable.Range(from, count).Sum(i => long.Parse(fields[i], System.Globalization.CultureInfo.InvariantCulture));
        // utime and stime are fields 14-15 of the stat line, cutime and cstime 16-17: [11]-[14] here.
        var ticks = 0L;
        foreach (var (pid, fields) in stats)
        {
            if (pid == postmaster)
                ticks += Ticks(fields, 11, 4);
            else if (fields[1] == postmaster.ToString(System.Globalization.CultureInfo.InvariantCulture))
                ticks += Ticks(fields, 11, 2);
        }
        // Linux reports these in USER_HZ, which is 100 on every architecture .NET runs on.
        return TimeSpan.FromSeconds(ticks / 100.0);
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
