using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ProxyPlatform.Testing;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench;

/// <summary>
/// Declarative apply: a tenant's configuration document of 1,000 routes is PUT to <c>/v1/tenants/{t}/config</c>
/// (each run replaces every route of the run before), and the figures are the time to the answer (the commit
/// of one revision) and the time until both workers have applied that revision.
/// </summary>
public static class ApplyBenchmark
{
    private const string Tenant = "apply";
    private const int Routes = 1000;

    public static async Task RunAsync(int runs)
    {
        var load = LoadAverage();
        await using var backend = await TestBackend.StartAsync("bench");
        await using var platform = await Platform.StartAsync("apply", workers: 2);
        await platform.PutTenantAsync(Tenant, "apply.bench");

        var answered = new List<double>();
        var live = new List<double>();
        long bytes = 0;
        for (var run = 0; run < runs; run++)
        {
            var body = Document(run, backend.Address).ToJsonString();
            bytes = Encoding.UTF8.GetByteCount(body);
            var started = Stopwatch.GetTimestamp();
            using var response = await platform.Admin.PutAsync($"/v1/tenants/{Tenant}/config", new StringContent(body, Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            answered.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (response.StatusCode != HttpStatusCode.OK)
                throw new InvalidOperationException($"The apply answered {(int)response.StatusCode}: {text}");
            var revision = JsonNode.Parse(text)!["revision"]!.GetValue<long>();
            await Task.WhenAll(platform.Workers.Select(w => AppliedAsync(w, revision)));
            live.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Console.WriteLine($"run {run + 1}: answered after {answered[^1]:0} ms, live on both workers after {live[^1]:0} ms");
        }

        var md = new StringBuilder();
        md.AppendLine("## Declarative apply of a 1,000-route document");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh apply` — {Machine()}. One control plane, two workers, PostgreSQL with fsync on. Each run PUTs");
        md.AppendLine($"`/v1/tenants/apply/config` with one cluster and {Routes:N0} routes ({bytes / 1024:N0} KiB of JSON) whose path prefixes all differ");
        md.AppendLine("from the run before, so every apply removes 1,000 routes and adds 1,000 as one revision. \"Answer\" is the PUT's round trip");
        md.AppendLine("(parse, validate, diff, the pool's checks, one commit); \"live\" is from sending the PUT until both workers report");
        md.AppendLine("that revision applied on `/config-stats` (polled every ~2 ms).");
        if (load > 1.5)
            md.AppendLine($"**The 1-minute load average was {F(load, "0.00")} when the run started: other work was running, and these figures are not representative.**");
        md.AppendLine();
        md.AppendLine(Table(["runs", "answer: median ms", "min", "max", "live on 2 workers: median ms", "min", "max"],
            [[runs.ToString(System.Globalization.CultureInfo.InvariantCulture),
              F(Percentile(answered, 50), "0"), F(answered.Min(), "0"), F(answered.Max(), "0"),
              F(Percentile(live, 50), "0"), F(live.Min(), "0"), F(live.Max(), "0")]]));
        WriteSection("apply", md.ToString());
        Console.WriteLine(md);
    }

    private static JsonObject Document(int run, string address)
    {
        var routes = new JsonObject();
        for (var i = 0; i < Routes; i++)
            routes[$"r{i:D4}"] = new JsonObject { ["match"] = new JsonObject { ["pathPrefix"] = $"/run{run}/svc-{i:D4}" }, ["cluster"] = "web" };
        return new JsonObject
        {
            ["clusters"] = new JsonObject { ["web"] = new JsonObject { ["backends"] = new JsonObject { ["b"] = new JsonObject { ["address"] = address } } } },
            ["routes"] = routes,
        };
    }

    private static async Task AppliedAsync(Worker worker, long revision)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 120;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if ((await worker.StatsAsync()).AppliedRevision >= revision)
                return;
            await Task.Delay(2);
        }
        throw new TimeoutException($"{worker.Id} did not apply revision {revision}.");
    }
}
