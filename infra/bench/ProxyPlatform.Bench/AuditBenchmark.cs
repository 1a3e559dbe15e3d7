using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using ProxyPlatform.Testing;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench;

/// <summary>
/// What the audit trail (a row in <c>audit_log</c> written in every change's own transaction) costs: durable
/// admin writes/s from concurrent clients against two platforms side by side on the same PostgreSQL, one
/// with the trail (the default) and one with <c>Audit:Enabled=false</c>, measured alternately in one run.
/// </summary>
public static class AuditBenchmark
{
    private const int Clients = 32;

    public static async Task RunAsync(int runs, int writes)
    {
        var load = LoadAverage();
        await using var on = await Platform.StartAsync("auditon", workers: 0);
        await using var off = await Platform.StartAsync("auditoff", 0, 1, connection: null, "--Audit:Enabled=false");
        using var onClient = on.Silos[0].Client(on.OperatorKey);
        using var offClient = off.Silos[0].Client(off.OperatorKey);
        foreach (var platform in new[] { on, off })
        {
            await platform.PutOkAsync("/v1/tenants/bench", new { hostnames = new[] { "bench.test" }, quotas = new { maxRoutes = 100_000 } });
            await platform.PutOkAsync("/v1/tenants/bench/clusters/web", new { });
        }
        // Warm-up: JIT, connection pools, prepared statements, on both.
        await WritesPerSecondAsync(onClient, "warm", Math.Min(writes, 500));
        await WritesPerSecondAsync(offClient, "warm", Math.Min(writes, 500));

        var withAudit = new List<double>();
        var without = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            // Alternating which goes first, so neither always runs on a warmer (or busier) database.
            if (run % 2 == 0)
            {
                withAudit.Add(await WritesPerSecondAsync(onClient, $"w{run}", writes));
                without.Add(await WritesPerSecondAsync(offClient, $"w{run}", writes));
            }
            else
            {
                without.Add(await WritesPerSecondAsync(offClient, $"w{run}", writes));
                withAudit.Add(await WritesPerSecondAsync(onClient, $"w{run}", writes));
            }
            Console.WriteLine($"run {run + 1}: {withAudit[^1]:0} writes/s with the audit trail, {without[^1]:0} without");
        }
        var recorded = await RecordsAsync(onClient);
        var recordedOff = await RecordsAsync(offClient);

        var md = new StringBuilder();
        md.AppendLine("## Audit trail on admin writes");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh audit` — {Machine()}. Two platforms side by side on the same (durable) PostgreSQL, each one silo and");
        md.AppendLine("no worker: one with the audit trail (the default: every accepted change writes its `audit_log` row, with the route before and after,");
        md.AppendLine("in the change's own transaction), one with `Audit:Enabled=false`. Writes/s: " +
            $"{writes} route PUTs (new routes of one tenant) from {Clients} concurrent clients per run, the platforms alternating and taking turns to go first,");
        md.AppendLine($"after a warm-up; medians of {runs} runs. The platform with the trail held {recorded} record(s) of the tenant's routes at the end " +
            $"(the latest 1,000 counted at most), the other {recordedOff}.");
        if (load > 1.5)
            md.AppendLine($"**The 1-minute load average was {F(load, "0.00")} when the run started: other work was running, and these figures are not representative.**");
        md.AppendLine();
        var (x, y) = (Percentile(withAudit, 50), Percentile(without, 50));
        md.AppendLine(Table(["", "durable writes/s", "runs"],
        [
            ["with the audit trail", F(x, "0"), string.Join(" / ", withAudit.Select(v => F(v, "0")))],
            ["without (`Audit:Enabled=false`)", F(y, "0"), string.Join(" / ", without.Select(v => F(v, "0")))],
        ]));
        md.AppendLine($"With the audit trail the control plane takes **{F(x / y, "0.00")}x** the writes/s it takes without.");
        WriteSection("audit", md.ToString());
        Console.WriteLine(md);
    }

    private static async Task<int> RecordsAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/v1/audit?tenant=bench&resource=/v1/tenants/bench/routes/&limit=1000");
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return body["items"]!.AsArray().Count;
    }

    private static async Task<double> WritesPerSecondAsync(HttpClient client, string prefix, int writes)
    {
        var clock = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(async _ =>
        {
            for (var i = Interlocked.Increment(ref next); i < writes; i = Interlocked.Increment(ref next))
            {
                var path = $"/v1/tenants/bench/routes/{prefix}-{i}";
                using var response = await client.PutAsync(path, new StringContent(
                    $$"""{"match":{"pathPrefix":"/{{prefix}}/{{i}}"},"cluster":"web"}""", Encoding.UTF8, "application/json"));
                if (!response.IsSuccessStatusCode)
                    throw new InvalidOperationException($"PUT {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }
        }));
        return writes / clock.Elapsed.TotalSeconds;
    }
}
