using System.Diagnostics;
using System.Text;
using ProxyPlatform.Testing;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench;

/// <summary>
/// What the overlap analysis (the shadowing check on every route write) costs, against the same platform
/// with <c>Routing:OverlapAnalysis=false</c>, in one run: the latency of a route write to a tenant with 100
/// and with 10,000 routes, one write at a time, and durable admin writes/s from concurrent clients.
/// </summary>
public static class OverlapBenchmark
{
    private const int Clients = 32;
    private static readonly int[] TenantSizes = [100, 10_000];

    public static async Task RunAsync(int runs, int writes)
    {
        var load = LoadAverage();
        await using var on = await Platform.StartAsync("overlapon", workers: 1);
        await using var off = await Platform.StartAsync("overlapoff", 1, 1, connection: null, "--Routing:OverlapAnalysis=false");
        using var onClient = on.Silos[0].Client(on.OperatorKey);
        using var offClient = off.Silos[0].Client(off.OperatorKey);
        foreach (var size in TenantSizes)
        {
            await LoadTenantAsync(on, onClient, size);
            await LoadTenantAsync(off, offClient, size);
            Console.WriteLine($"loaded a tenant of {size} routes into both platforms");
        }

        // One write at a time to each tenant, alternating between the platforms; each write adds a route
        // below one of the tenant's prefixes (what the analysis compares it with).
        var latency = new Dictionary<(int Size, bool On), List<double>>();
        foreach (var size in TenantSizes)
        {
            latency[(size, true)] = [];
            latency[(size, false)] = [];
            await LatenciesAsync(onClient, size, "warm", 200, []);
            await LatenciesAsync(offClient, size, "warm", 200, []);
            for (var run = 0; run < runs; run++)
            {
                await LatenciesAsync(onClient, size, $"l{run}", writes / 4, latency[(size, true)]);
                await LatenciesAsync(offClient, size, $"l{run}", writes / 4, latency[(size, false)]);
            }
            Console.WriteLine($"{size} routes: p50 {Percentile(latency[(size, true)], 50):0.00} ms with the analysis, {Percentile(latency[(size, false)], 50):0.00} ms without");
        }

        var withAnalysis = new List<double>();
        var without = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            withAnalysis.Add(await WritesPerSecondAsync(onClient, $"w{run}", writes));
            without.Add(await WritesPerSecondAsync(offClient, $"w{run}", writes));
            Console.WriteLine($"run {run + 1}: {withAnalysis[^1]:0} writes/s with the analysis, {without[^1]:0} without");
        }

        var md = new StringBuilder();
        md.AppendLine("## Overlap analysis on route writes");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh overlap` — {Machine()}. Two platforms side by side on the same PostgreSQL, each one silo and a worker:");
        md.AppendLine("one with the overlap analysis (the default), one with `Routing:OverlapAnalysis=false`. Each holds a tenant of 100 and a tenant");
        md.AppendLine($"of 10,000 routes (distinct prefixes on one host). Latency: {runs} × {writes / 4} route PUTs per tenant and platform, one at a time,");
        md.AppendLine("alternating, each adding a route below an existing prefix, after 200 warm-up writes; \"added\" is the difference of the percentiles.");
        md.AppendLine($"Writes/s: {writes} route PUTs from {Clients} concurrent clients per run, alternating; medians of {runs} runs.");
        if (load > 1.5)
            md.AppendLine($"**The 1-minute load average was {F(load, "0.00")} when the run started: other work was running, and these figures are not representative.**");
        md.AppendLine();
        md.AppendLine(Table(["tenant", "write p50 (ms) on / off", "added p50 (ms)", "write p99 (ms) on / off", "added p99 (ms)"],
            TenantSizes.Select(size =>
            {
                var (a, b) = (latency[(size, true)], latency[(size, false)]);
                return new[]
                {
                    $"{size:N0} routes",
                    $"{F(Percentile(a, 50), "0.00")} / {F(Percentile(b, 50), "0.00")}", F(Percentile(a, 50) - Percentile(b, 50), "0.00"),
                    $"{F(Percentile(a, 99), "0.00")} / {F(Percentile(b, 99), "0.00")}", F(Percentile(a, 99) - Percentile(b, 99), "0.00"),
                };
            })));
        var (x, y) = (Percentile(withAnalysis, 50), Percentile(without, 50));
        md.AppendLine(Table(["", "durable writes/s", "runs"],
        [
            ["with the overlap analysis", F(x, "0"), string.Join(" / ", withAnalysis.Select(v => F(v, "0")))],
            ["without (`Routing:OverlapAnalysis=false`)", F(y, "0"), string.Join(" / ", without.Select(v => F(v, "0")))],
        ]));
        md.AppendLine($"With the analysis the control plane takes **{F(x / y, "0.00")}x** the writes/s it takes without.");
        WriteSection("overlap", md.ToString());
        Console.WriteLine(md);
    }

    private static async Task LoadTenantAsync(Platform platform, HttpClient client, int size)
    {
        var tenant = $"t{size}";
        await platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"{tenant}.test" }, quotas = new { maxRoutes = 100_000 } });
        await platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web", new { });
        await PutAllAsync(client, size, i => ($"/v1/tenants/{tenant}/routes/r{i}", $$"""{"match":{"pathPrefix":"/svc/{{i}}"},"cluster":"web"}"""));
    }

    private static async Task LatenciesAsync(HttpClient client, int size, string prefix, int writes, List<double> into)
    {
        for (var i = 0; i < writes; i++)
        {
            var clock = Stopwatch.StartNew();
            await PutAsync(client, $"/v1/tenants/t{size}/routes/{prefix}-{i}", $$"""{"match":{"pathPrefix":"/svc/{{i % size}}/{{prefix}}-{{i}}"},"cluster":"web"}""");
            into.Add(clock.Elapsed.TotalMilliseconds);
        }
    }

    private static async Task<double> WritesPerSecondAsync(HttpClient client, string prefix, int writes)
    {
        var clock = Stopwatch.StartNew();
        await PutAllAsync(client, writes, i => ($"/v1/tenants/t100/routes/{prefix}-{i}", $$"""{"match":{"pathPrefix":"/svc/{{i % 100}}/{{prefix}}-{{i}}"},"cluster":"web"}"""));
        return writes / clock.Elapsed.TotalSeconds;
    }

    private static async Task PutAllAsync(HttpClient client, int count, Func<int, (string Path, string Json)> write)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(async _ =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                var (path, json) = write(i);
                await PutAsync(client, path, json);
            }
        }));
    }

    private static async Task PutAsync(HttpClient client, string path, string json)
    {
        using var response = await client.PutAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"PUT {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }
}
