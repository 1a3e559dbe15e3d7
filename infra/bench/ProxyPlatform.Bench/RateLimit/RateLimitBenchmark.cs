using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ProxyPlatform.Testing;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench.RateLimit;

/// <summary>
/// Rate limiter memory: a worker takes a million requests, each with a rate-limit key (a header)
/// no other request has, on a route limited by that header; its resident memory before and after is
/// set beside a peer worker's under the same load on a route without a limit, and beside a worker
/// whose cap is raised to the number of keys (what an uncapped table would hold; with <c>--uncapped</c>,
/// since it adds a third of the run's time).
/// </summary>
/// <remarks>
/// The routes' cluster has no backends, so the worker answers each request itself (503) just after
/// the rate limiter: the figures are the limiter's table, not forwarding buffers or a backend's pace.
/// </remarks>
public static class RateLimitBenchmark
{
    private const string Header = "X-Client";
    private const int Threads = 2;
    private const int Connections = 32;

    private sealed record Scenario(string Name, string Host, string Description, string[] WorkerArgs);

    private sealed record Run(Scenario Scenario, double BeforeMb, double AfterMb, long Requests, double Seconds);

    public static async Task RunAsync(int requests, bool uncapped)
    {
        var load = LoadAverage();
        await using var platform = await Platform.StartAsync("ratelimit", workers: 0);
        await ServiceAsync(platform, "open", rateLimit: null);
        var revision = await ServiceAsync(platform, "limited", rateLimit: new { requestsPerSecond = 0.01, burst = 5, key = $"header:{Header}" });

        List<Scenario> scenarios =
        [
            new("no rate limit (peer)", "open.bench", "route without a rate limit", []),
            new("rate limit, default cap", "limited.bench", "keyed by header, `Proxy:RateLimitMaxKeys` 100,000 (the default)", []),
        ];
        if (uncapped)
            scenarios.Add(new("rate limit, cap ≥ keys", "limited.bench", $"keyed by header, `Proxy:RateLimitMaxKeys` {requests:N0}: every key kept, as an uncapped table would",
                [$"--Proxy:RateLimitMaxKeys={requests}"]));
        var runs = new List<Run>();
        for (var i = 0; i < scenarios.Count; i++)
        {
            var scenario = scenarios[i];
            var worker = await platform.StartWorkerAsync($"ratelimit-{i + 1}", 0, scenario.WorkerArgs);
            try
            {
                await worker.WaitForRevisionAsync(revision);
                // Warm up (JIT, connection buffers) with one key, so that "before" is a worker that has served this load.
                await WrkAsync(worker, scenario.Host, ["-d5s", "-H", $"{Header}: warm-up"], []);
                var before = worker.Process.ResidentBytes;
                var started = Stopwatch.GetTimestamp();
                // wrk runs for its whole duration even once the script has stopped its threads: short rounds, each with keys of its own.
                long sent = 0;
                for (var round = 1; sent < requests; round++)
                {
                    var quota = Math.Max(1, (requests - sent + Threads - 1) / Threads);
                    sent += await WrkAsync(worker, scenario.Host,
                        ["-d10s", "-s", Path.Combine(AppContext.BaseDirectory, "RateLimit", "distinct-keys.lua")],
                        [round.ToString(CultureInfo.InvariantCulture), quota.ToString(CultureInfo.InvariantCulture)]);
                }
                var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                var after = worker.Process.ResidentBytes;
                runs.Add(new Run(scenario, before / 1048576.0, after / 1048576.0, sent, seconds));
                Console.WriteLine($"{scenario.Name}: {sent:N0} requests in {seconds:0.0} s, RSS {before / 1048576.0:0} MB -> {after / 1048576.0:0} MB");
            }
            finally
            {
                await worker.KillAsync();
            }
        }

        var peer = runs[0];
        var md = new System.Text.StringBuilder();
        md.AppendLine("## Rate limiter memory");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh ratelimit` — {Machine()}. One worker process per row, fresh each time, warmed up with 5 s of");
        md.AppendLine($"requests under one key; then {requests:N0} requests (`wrk -t{Threads} -c{Connections}`, a Lua script giving each request its");
        md.AppendLine($"own `{Header}` value) on a route whose rate limit is keyed by that header (0.01 requests/s, burst 5: no bucket refills");
        md.AppendLine("during the run, so the cap is kept by evicting the idlest buckets). The route's cluster has no backends, so the worker");
        md.AppendLine("answers each request itself (503) right after the limiter. RSS from /proc before the load and just after it.");
        if (load > 1.5)
            md.AppendLine($"**The 1-minute load average was {F(load, "0.00")} when the run started: other work was running, and these figures are not representative.**");
        md.AppendLine();
        md.AppendLine(Table(["worker", "route", "requests", "req/s (in 10 s rounds)", "RSS before MB", "RSS after MB", "after ÷ peer's after"],
            runs.Select(r => new[]
            {
                r.Scenario.Name, r.Scenario.Description, r.Requests.ToString("N0", CultureInfo.InvariantCulture), F(r.Requests / r.Seconds, "0"),
                F(r.BeforeMb, "0"), F(r.AfterMb, "0"), F(r.AfterMb / peer.AfterMb, "0.00") + "×",
            })));
        var capped = runs[1];
        md.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Worker RSS after {requests:N0} distinct keys: {F(capped.AfterMb, "0")} MB with the default cap, {F(capped.AfterMb / peer.AfterMb, "0.00")}× the peer's {F(peer.AfterMb, "0")} MB "));
        md.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"(+{F(capped.AfterMb - capped.BeforeMb, "0")} MB over the run, against +{F(peer.AfterMb - peer.BeforeMb, "0")} MB)")
            + (runs.Count > 2 ? string.Create(CultureInfo.InvariantCulture, $"; keeping every key costs {F(runs[2].AfterMb, "0")} MB ({F(runs[2].AfterMb / peer.AfterMb, "0.00")}×).") : "."));
        md.AppendLine("RSS counts what the worker's server GC has not given back, not only live objects: the table holds at most");
        md.AppendLine("100,000 buckets (`TokenBucketLimiterTests`), but under a flood of new keys each bucket lives for ~100,000 requests");
        md.AppendLine("before it is evicted, long enough to reach generation 2, so evicted buckets and their keys are freed only by full");
        md.AppendLine("collections, and the heap grows to that garbage first. `--requests` larger than the default shows whether it levels off.");
        WriteSection("ratelimit", md.ToString());
        Console.WriteLine(md);
    }

    private static async Task<long> ServiceAsync(Platform platform, string tenant, object? rateLimit)
    {
        await platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"{tenant}.bench" } });
        await platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/none", new { });
        return rateLimit is null
            ? await platform.PutOkAsync($"/v1/tenants/{tenant}/routes/main", new { match = new { pathPrefix = "/" }, cluster = "none" })
            : await platform.PutOkAsync($"/v1/tenants/{tenant}/routes/main", new { match = new { pathPrefix = "/" }, cluster = "none", rateLimit });
    }

    /// <summary>Runs wrk against the worker with <paramref name="options"/> and its script's <paramref name="scriptArgs"/>; returns how many requests it sent.</summary>
    private static async Task<long> WrkAsync(Worker worker, string host, string[] options, string[] scriptArgs)
    {
        var info = new ProcessStartInfo("wrk") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string[] args = [$"-t{Threads}", $"-c{Connections}", "--timeout", "5s", "-H", $"Host: {host}", .. options, worker.ProxyUrl + "/"];
        foreach (var arg in scriptArgs.Length == 0 ? args : [.. args, "--", .. scriptArgs])
            info.ArgumentList.Add(arg);
        using var wrk = Process.Start(info)!;
        var stdout = wrk.StandardOutput.ReadToEndAsync();
        var stderr = wrk.StandardError.ReadToEndAsync();
        await wrk.WaitForExitAsync();
        var line = (await stdout).Split('\n').FirstOrDefault(l => l.StartsWith("WRK-REPORT ", StringComparison.Ordinal));
        if (line is null)
        {
            // The warm-up runs without the script: wrk's own summary says how many requests it sent.
            var summary = (await stdout).Split('\n').FirstOrDefault(l => l.Contains("requests in", StringComparison.Ordinal))
                ?? throw new InvalidOperationException($"wrk exited with {wrk.ExitCode}:\n{await stdout}\n{await stderr}");
            return long.Parse(summary.Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        using var report = JsonDocument.Parse(line["WRK-REPORT ".Length..]);
        return report.RootElement.GetProperty("requests").GetInt64();
    }
}
