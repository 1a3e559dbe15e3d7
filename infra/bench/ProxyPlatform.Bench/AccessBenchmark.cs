using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ProxyPlatform.Testing;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench;

/// <summary>
/// What access control costs, against the same platform without it, in one run: durable admin writes
/// per second with every write authenticated (a key checked against the node's cache) and with
/// <c>Auth:Disabled=true</c>; and how soon a key revoked on one silo is refused by the other.
/// </summary>
public static class AccessBenchmark
{
    private const int Clients = 32;

    public static async Task RunAsync(int runs, int writes)
    {
        var load = LoadAverage();
        await using var on = await Platform.StartAsync("accesson", workers: 1, silos: 2);
        await using var off = await Platform.StartAsync("accessoff", 1, 2, connection: null, "--Auth:Disabled=true");
        await PrepareAsync(on);
        await PrepareAsync(off);
        // A tenant's admin key, as a tenant's automation would present it (the bootstrap key is checked without the cache).
        var key = await CreateKeyAsync(on, "tenant-admin", "bench");
        using var keyed = on.Silos[0].Client(key["secret"]!.GetValue<string>());
        using var open = off.Silos[0].Client(null);

        // Both are warmed up first: the JIT compiles each process's write path during its first thousands of calls.
        await WritesPerSecondAsync(keyed, "warm", 1000);
        await WritesPerSecondAsync(open, "warm", 1000);
        var withAuth = new List<double>();
        var withoutAuth = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            withAuth.Add(await WritesPerSecondAsync(keyed, $"r{run}", writes));
            withoutAuth.Add(await WritesPerSecondAsync(open, $"r{run}", writes));
            Console.WriteLine($"run {run + 1}: {withAuth[^1]:0} writes/s with credentials, {withoutAuth[^1]:0} without");
        }

        var revocations = new List<double>();
        for (var i = 0; i < 20; i++)
            revocations.Add(await RevocationAsync(on));
        Console.WriteLine($"revocation seen by the other silo: median {Percentile(revocations, 50):0} ms, max {revocations.Max():0} ms");

        var md = new StringBuilder();
        md.AppendLine("## Access control");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh access` — {Machine()}. Two platforms side by side on the same PostgreSQL, each two silos and a worker: one with");
        md.AppendLine("credentials (bootstrap operator key, and every measured write presenting a tenant-admin key), one with");
        md.AppendLine($"`Auth:Disabled=true`. Each run writes {writes} route PUTs to each, from {Clients} concurrent clients, alternating;");
        md.AppendLine("each platform was warmed up with 1,000 writes first. Writes/s are medians of the runs.");
        if (load > 1.5)
            md.AppendLine($"**The 1-minute load average was {F(load, "0.00")} when the run started: other work was running, and these figures are not representative.**");
        md.AppendLine();
        var (a, b) = (Percentile(withAuth, 50), Percentile(withoutAuth, 50));
        md.AppendLine(Table(["", "durable writes/s", "runs"],
        [
            ["with credentials", F(a, "0"), string.Join(" / ", withAuth.Select(v => F(v, "0")))],
            ["without (`Auth:Disabled=true`)", F(b, "0"), string.Join(" / ", withoutAuth.Select(v => F(v, "0")))],
        ]));
        md.AppendLine($"With credentials the control plane takes **{F(a / b, "0.00")}x** the writes/s it takes without (target ≥ 0.95x).");
        md.AppendLine();
        md.AppendLine($"A key revoked through one silo is refused by the other a median **{F(Percentile(revocations, 50), "0")} ms** later " +
            $"(max {F(revocations.Max(), "0")} ms over {revocations.Count} revocations; target ≤ 1,000 ms), timed from the revocation's answer, polling every ~5 ms.");
        WriteSection("access", md.ToString());
        Console.WriteLine(md);
    }

    private static async Task PrepareAsync(Platform platform)
    {
        // Each run adds thousands of routes: past the default quota of 10,000 for one tenant.
        await platform.PutOkAsync("/v1/tenants/bench", new { hostnames = new[] { "bench.test" }, quotas = new { maxRoutes = 100_000 } });
        await platform.PutOkAsync("/v1/tenants/bench/clusters/web", new { });
    }

    private static async Task<double> WritesPerSecondAsync(HttpClient client, string prefix, int writes)
    {
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(async _ =>
        {
            for (var i = Interlocked.Increment(ref next); i < writes; i = Interlocked.Increment(ref next))
            {
                using var response = await client.PutAsync($"/v1/tenants/bench/routes/{prefix}-{i}",
                    new StringContent($$"""{"match":{"pathPrefix":"/{{prefix}}/{{i}}"},"cluster":"web"}""", Encoding.UTF8, "application/json"));
                if (!response.IsSuccessStatusCode)
                    throw new InvalidOperationException($"A write answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }
        }));
        return writes / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Milliseconds from a revocation's answer on the first silo until the second refuses the key.</summary>
    private static async Task<double> RevocationAsync(Platform platform)
    {
        var key = await CreateKeyAsync(platform, "tenant-viewer", "bench");
        using var second = platform.Silos[1].Client(key["secret"]!.GetValue<string>());
        using (var used = await second.GetAsync("/v1/tenants/bench"))
            used.EnsureSuccessStatusCode();
        using (var revoked = await platform.Silos[0].Admin.DeleteAsync($"/v1/keys/{key["id"]}"))
            revoked.EnsureSuccessStatusCode();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            using var response = await second.GetAsync("/v1/tenants/bench");
            if (response.StatusCode == HttpStatusCode.Unauthorized)
                return clock.Elapsed.TotalMilliseconds;
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
                throw new TimeoutException("The second silo still accepts a key revoked 30 s ago.");
            await Task.Delay(5);
        }
    }

    private static async Task<JsonObject> CreateKeyAsync(Platform platform, string role, string tenant)
    {
        using var response = await platform.Admin.PostAsync("/v1/keys",
            new StringContent($$"""{"name":"bench","role":"{{role}}","tenant":"{{tenant}}"}""", Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.Created)
            throw new InvalidOperationException($"POST /v1/keys answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }
}
