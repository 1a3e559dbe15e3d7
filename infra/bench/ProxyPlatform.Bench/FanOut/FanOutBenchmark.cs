using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Npgsql;
using ProxyPlatform.Testing;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench.FanOut;

/// <summary>
/// Fan-out: one control-plane node holding many worker streams. The streams are
/// <see cref="StreamClient"/>s in this one process (real gRPC streams with a pool token, real decoding
/// and applying of every update, real ACKs; no proxies). Measured: the time from a write's answer until
/// every stream has ACKed its revision, and the node's CPU and resident memory per idle stream (/proc).
/// </summary>
public static class FanOutBenchmark
{
    private const string Tenant = "fanout";
    /// <summary>Streams opened at once while connecting: a fleet starting together, not all in the same millisecond.</summary>
    private const int ConnectingAtOnce = 50;
    /// <summary>How long the streams sit idle before the idle figures are read, and how long they are read over (heartbeats are every 10 s).</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(15), IdleWindow = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan AckDeadline = TimeSpan.FromMinutes(2);

    public static async Task RunAsync(IReadOnlyList<int> sizes, int writes)
    {
        var load = LoadAverage();
        var results = new List<Run>();
        foreach (var streams in sizes)
            results.Add(await MeasureAsync(streams, writes));

        var md = new System.Text.StringBuilder();
        md.AppendLine("## Fan-out to worker streams");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh fanout` — {Machine()}. One control-plane node (a fresh one for each size); the worker");
        md.AppendLine("streams are lightweight clients in one load process on the same machine: each its own HTTP/2 connection with a pool");
        md.AppendLine("token, a Hello, every update decoded into the configuration model and applied on the revision it builds on, an ACK,");
        md.AppendLine("and a heartbeat every 10 s — everything a worker does on its stream except proxying. Latency runs from a route write's");
        md.AppendLine($"HTTP answer until **every** stream has ACKed its revision ({writes} writes one after another, each waited for). Idle figures:");
        md.AppendLine($"the node's resident memory (VmRSS) with the streams connected less before any connected, per stream, and its CPU over {IdleWindow.TotalSeconds:0} s");
        md.AppendLine("of idle streams (utime + stime from /proc/<pid>/stat).");
        if (load > 1.5)
            md.AppendLine($"**The 1-minute load average was {F(load, "0.00")} when the run started: other work was running, and these figures are not representative.**");
        md.AppendLine();
        md.AppendLine(Table(
            ["streams", "connect all s", "writes", "p50 ms", "p99 ms", "max ms", "RSS before MB", "RSS idle MB", "kB per idle stream", "idle CPU % of a core", "CPU µs/s per idle stream", "CPU ms per write"],
            results.Select(r => new[]
            {
                r.Streams.ToString("N0", CultureInfo.InvariantCulture), F(r.ConnectSeconds, "0.0"), r.Latencies.Count.ToString(CultureInfo.InvariantCulture),
                F(Percentile(r.Latencies, 50), "0.0"), F(Percentile(r.Latencies, 99), "0.0"), F(r.Latencies.Max(), "0.0"),
                F(r.RssBefore / 1048576.0, "0"), F(r.RssIdle / 1048576.0, "0"), F((r.RssIdle - r.RssBefore) / 1024.0 / r.Streams, "0.0"),
                F(r.IdleCpuShare * 100, "0.0"), F(r.IdleCpuShare * 1e6 / r.Streams, "0.0"), F(r.CpuPerWriteMs, "0.0"),
            })));
        md.AppendLine("Targets: ≥ 1,000 streams per node with p99 ≤ 1 s; ≤ 100 kB per idle stream. The load process shares the 2 cores with");
        md.AppendLine("the node and PostgreSQL, so each write's latency includes the load process decoding and ACKing on every stream.");
        WriteSection("fanout", md.ToString());
        Console.WriteLine(md);
    }

    private sealed record Run(int Streams, double ConnectSeconds, List<double> Latencies, long RssBefore, long RssIdle, double IdleCpuShare, double CpuPerWriteMs);

    private static async Task<Run> MeasureAsync(int streams, int writes)
    {
        Console.WriteLine($"--- {streams} streams");
        await using var platform = await Platform.StartAsync($"fanout{streams}", workers: 0, silos: 1, connection: PropagationBenchmark.ProductionPools);
        var silo = platform.Silos[0];
        await silo.PutOkAsync($"/v1/tenants/{Tenant}", new { hostnames = new[] { "fanout.bench" } });
        await silo.PutOkAsync($"/v1/tenants/{Tenant}/clusters/web", new { });
        // The clients proxy nothing: the backend is never called.
        await silo.PutOkAsync($"/v1/tenants/{Tenant}/clusters/web/backends/b", new { address = "http://127.0.0.1:9" });
        var token = await PoolTokenAsync(silo);
        // The write path, warm before anything is measured (its JIT is not fan-out).
        for (var i = 0; i < 50; i++)
            await PutRouteAsync(silo, $"warm{i}");

        var pid = silo.Process.Id;
        await Task.Delay(TimeSpan.FromSeconds(5));
        var rssBefore = ProcFs.ResidentBytes(pid);

        var clients = Enumerable.Range(0, streams).Select(i => new StreamClient(silo.GrpcUrl, $"fanout-{i:D5}", token)).ToList();
        try
        {
            var connecting = Stopwatch.StartNew();
            using (var gate = new SemaphoreSlim(ConnectingAtOnce))
            {
                await Task.WhenAll(clients.Select(async c =>
                {
                    await gate.WaitAsync();
                    try
                    {
                        await c.StartAsync();
                    }
                    finally
                    {
                        gate.Release();
                    }
                }));
            }
            var connectSeconds = connecting.Elapsed.TotalSeconds;
            Console.WriteLine($"{streams} streams connected and ACKed their snapshot in {connectSeconds:0.0} s");

            await Task.Delay(Settle);
            var rssIdle = ProcFs.ResidentBytes(pid);
            var cpuFrom = ProcFs.CpuTime(pid);
            var idleClock = Stopwatch.StartNew();
            await Task.Delay(IdleWindow);
            var idleShare = (ProcFs.CpuTime(pid) - cpuFrom) / idleClock.Elapsed;
            Console.WriteLine($"idle: RSS {rssBefore / 1048576.0:0} → {rssIdle / 1048576.0:0} MB ({(rssIdle - rssBefore) / 1024.0 / streams:0.0} kB per stream), CPU {idleShare * 100:0.0}% of a core");

            var latencies = new List<double>();
            var cpuWrites = ProcFs.CpuTime(pid);
            for (var i = 0; i < writes; i++)
            {
                var revision = await PutRouteAsync(silo, $"r{i}");
                var answered = Stopwatch.GetTimestamp();
                var last = await AllAckedAsync(clients, revision);
                latencies.Add(Stopwatch.GetElapsedTime(answered, Math.Max(answered, last)).TotalMilliseconds);
            }
            var cpuPerWrite = (ProcFs.CpuTime(pid) - cpuWrites).TotalMilliseconds / Math.Max(1, writes);
            Console.WriteLine($"p50 {Percentile(latencies, 50):0.0} ms, p99 {Percentile(latencies, 99):0.0} ms, max {latencies.Max():0.0} ms; CPU {cpuPerWrite:0.0} ms per write");
            return new Run(streams, connectSeconds, latencies, rssBefore, rssIdle, idleShare, cpuPerWrite);
        }
        finally
        {
            await Task.WhenAll(clients.Select(c => c.DisposeAsync().AsTask()));
        }
    }

    /// <summary>Waits until every client has ACKed <paramref name="revision"/>; returns when the last one did (a Stopwatch timestamp).</summary>
    private static async Task<long> AllAckedAsync(List<StreamClient> clients, long revision)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(Stopwatch.Frequency * AckDeadline.TotalSeconds);
        while (true)
        {
            if (clients.FirstOrDefault(c => c.Failure is not null) is { } failed)
                throw new InvalidOperationException("A stream failed", failed.Failure);
            var last = 0L;
            var all = true;
            foreach (var client in clients)
            {
                if (client.AckedAt(revision) is not { } at)
                {
                    all = false;
                    break;
                }
                last = Math.Max(last, at);
            }
            if (all)
                return last;
            if (Stopwatch.GetTimestamp() > deadline)
                throw new TimeoutException($"{clients.Count(c => c.Acked < revision)} of {clients.Count} streams had not ACKed revision {revision} after {AckDeadline.TotalSeconds:0} s.");
            // The ACK times are recorded by the clients; this only decides when to read them, without a hot loop on 2 cores.
            await Task.Delay(5);
        }
    }

    private static Task<long> PutRouteAsync(Silo silo, string route) =>
        silo.PutOkAsync($"/v1/tenants/{Tenant}/routes/{route}", new { match = new { pathPrefix = $"/{route}" }, cluster = "web" });

    private static async Task<string> PoolTokenAsync(Silo silo)
    {
        using var issued = await silo.Admin.PostAsync("/v1/pools/default/tokens",
            new StringContent("""{"name":"fanout-bench"}""", System.Text.Encoding.UTF8, "application/json"));
        var body = await issued.Content.ReadAsStringAsync();
        if (!issued.IsSuccessStatusCode)
            throw new InvalidOperationException($"POST /v1/pools/default/tokens answered {(int)issued.StatusCode}: {body}");
        return JsonNode.Parse(body)!["secret"]!.GetValue<string>();
    }
}

/// <summary>A process's resident memory and CPU time, read from /proc as <c>ps</c> and <c>top</c> do.</summary>
public static class ProcFs
{
    public static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>utime + stime (fields 14 and 15 of /proc/&lt;pid&gt;/stat), in USER_HZ (100 per second on Linux).</summary>
    public static TimeSpan CpuTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // After the command name (in parentheses, which may hold spaces): [0] state, [1] ppid, ... [11] utime, [12] stime.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0);
    }
}
