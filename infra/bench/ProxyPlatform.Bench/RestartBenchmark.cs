using System.Diagnostics;
using System.Net;
using ProxyPlatform.Testing;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench;

/// <summary>
/// Restart on last-known-good: a worker whose control plane is gone is started again, and the
/// figure is the time from starting its process to its first proxied 200, served from the
/// configuration it saved. The test suite checks that it is served; how soon is measured here.
/// </summary>
public static class RestartBenchmark
{
    private const string Host = "restart.bench";

    public static async Task RunAsync(int runs)
    {
        var load = LoadAverage();
        await using var backend = await TestBackend.StartAsync("bench");
        await using var platform = await Platform.StartAsync("restart", workers: 0);
        // A fixed proxy port (a later --Proxy:Url wins over the harness's port 0), so that requests
        // can be sent from the moment the process starts, before it says it is ready.
        var proxyUrl = $"http://127.0.0.1:{ReservedPorts.Take()}";
        var worker = await platform.StartWorkerAsync("restart-1", 0, $"--Proxy:Url={proxyUrl}");
        await platform.CreateServiceAsync("restart", Host, [backend]);
        // ?wait= answers once the worker has ACKed, which it does once the revision is saved as last-known-good.
        using (var saved = await platform.PutAsync("/v1/tenants/restart/routes/main?wait=30s", new { match = new { pathPrefix = "/" }, cluster = "web" }))
        {
            if (saved.Headers.TryGetValues("X-Config-Rollout", out var rollout) is false || rollout.Single() != "complete")
                throw new InvalidOperationException($"The worker did not apply the configuration: {(int)saved.StatusCode} {await saved.Content.ReadAsStringAsync()}");
        }
        await platform.KillControlPlaneAsync();
        await worker.KillAsync();

        var firstOk = new List<double>();
        var ready = new List<double>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (var run = 0; run < runs; run++)
        {
            var started = Stopwatch.GetTimestamp();
            var saidReady = StartedAsync(worker);
            firstOk.Add(Stopwatch.GetElapsedTime(started, await FirstOkAsync(http, proxyUrl)).TotalMilliseconds);
            ready.Add(Stopwatch.GetElapsedTime(started, await saidReady).TotalMilliseconds);
            Console.WriteLine($"run {run + 1}: first 200 after {firstOk[^1]:0} ms");
            await worker.KillAsync();
        }

        var md = new System.Text.StringBuilder();
        md.AppendLine("## Restart on last-known-good");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh restart` — {Machine()}. One worker process, its control plane killed after the worker");
        md.AppendLine("saved (and ACKed) its configuration; the worker is then started again, and again. Time from starting the");
        md.AppendLine("process (`dotnet ProxyPlatform.DataPlane.dll`) to its first proxied 200, polled every ~1 ms on its proxy port.");
        if (load > 1.5)
            md.AppendLine($"**The 1-minute load average was {F(load, "0.00")} when the run started: other work was running, and these figures are not representative.**");
        md.AppendLine();
        md.AppendLine(Table(["runs", "first 200: median ms", "min ms", "max ms", "ready line: median ms"],
            [[runs.ToString(System.Globalization.CultureInfo.InvariantCulture), F(Percentile(firstOk, 50), "0"), F(firstOk.Min(), "0"), F(firstOk.Max(), "0"), F(Percentile(ready, 50), "0")]]));
        md.AppendLine("Target: ≤ 2,000 ms (the figure a test asserted before speed moved here). The ready line is the worker's log line");
        md.AppendLine("that names its bound listeners, which the test harness waits for; it comes after the listeners are bound.");
        WriteSection("restart", md.ToString());
        Console.WriteLine(md);
    }

    /// <summary>Starts the worker; returns when it wrote its ready line (a <see cref="Stopwatch"/> timestamp).</summary>
    private static async Task<long> StartedAsync(Worker worker)
    {
        await worker.StartAsync();
        return Stopwatch.GetTimestamp();
    }

    /// <summary>Polls the proxy until it answers 200 for the benchmark's host; returns when (a <see cref="Stopwatch"/> timestamp).</summary>
    private static async Task<long> FirstOkAsync(HttpClient http, string proxyUrl)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 60;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, proxyUrl + "/");
                request.Headers.Host = Host;
                using var response = await http.SendAsync(request);
                if (response.StatusCode == HttpStatusCode.OK)
                    return Stopwatch.GetTimestamp();
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(1);
        }
        throw new TimeoutException($"The restarted worker never answered 200 on {proxyUrl}.");
    }
}
