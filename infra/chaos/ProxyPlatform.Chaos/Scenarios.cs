using System.Diagnostics;
using System.Net;
using ProxyPlatform.Testing;

namespace ProxyPlatform.Chaos;

/// <summary>What one scenario measured, and whether it met the goals.</summary>
public sealed record Outcome(
    string Scenario,
    string Load,
    long Requests,
    long FailedRequests,
    long FailedAfterVerdict,
    bool BackendScenario,
    int Acknowledged,
    int Lost,
    long Unavailable,
    long UnexpectedAnswers,
    TimeSpan Recovery,
    TimeSpan Budget,
    string Notes)
{
    public bool GoalsMet =>
        (BackendScenario ? FailedAfterVerdict == 0 : FailedRequests == 0) && Lost == 0 && UnexpectedAnswers == 0 && Recovery <= Budget;
}

/// <summary>The chaos scenarios of issue 18, each on a <see cref="Scene"/> of its own.</summary>
public static class Scenarios
{
    public static readonly string[] All =
        ["control-plane-down", "silo-kill", "distribution-silo-kill", "postgres-down", "backend-killed", "backend-hung", "worker-restart", "write-storm", "network"];

    public static Task<Outcome> RunAsync(string name, PostgresServer postgres, Settings settings) => name switch
    {
        "control-plane-down" => ControlPlaneDownAsync(postgres, settings),
        "silo-kill" => SiloKillAsync(postgres, settings, distribution: false),
        "distribution-silo-kill" => SiloKillAsync(postgres, settings, distribution: true),
        "postgres-down" => PostgresDownAsync(postgres, settings),
        "backend-killed" => BackendAsync(postgres, settings, hang: false),
        "backend-hung" => BackendAsync(postgres, settings, hang: true),
        "worker-restart" => WorkerRestartAsync(postgres, settings),
        "write-storm" => WriteStormAsync(postgres, settings),
        "network" => NetworkAsync(postgres, settings),
        _ => throw new ArgumentException($"Unknown scenario '{name}'; one of: {string.Join(", ", All)}, all."),
    };

    private static string Load(Settings settings, int writesPerSecond) =>
        $"{settings.RequestsPerSecond} req/s via 2 workers, {writesPerSecond} writes/s";

    /// <summary>Both silos killed (-9), down for a while, started again.</summary>
    private static async Task<Outcome> ControlPlaneDownAsync(PostgresServer postgres, Settings settings)
    {
        await using var scene = await Scene.StartAsync(postgres, "chaos-cp-down", settings, settings.WritesPerSecond);
        foreach (var silo in scene.Platform.Silos)
            await silo.Process.KillAsync();
        Log($"both silos killed; down for {settings.ControlPlaneDown.TotalSeconds:0} s");
        await Task.Delay(settings.ControlPlaneDown);
        var since = Stopwatch.StartNew();
        foreach (var silo in scene.Platform.Silos)
            await silo.StartAsync();
        var ready = since.Elapsed;
        var recovery = await scene.RecoveryAsync(since, settings.Patience);
        return await FinishAsync(scene, settings, $"control plane down {settings.ControlPlaneDown.TotalSeconds:0} s (2 silos killed -9)",
            settings.WritesPerSecond, recovery, TimeSpan.FromSeconds(60),
            $"recovery: from the restart until a write is acknowledged and applied by both workers (both silos said they were ready after {ready.TotalSeconds:0.0} s, one after the other)");
    }

    /// <summary>One of the two silos killed (-9): any, or the one holding the pool's distribution grain.</summary>
    private static async Task<Outcome> SiloKillAsync(PostgresServer postgres, Settings settings, bool distribution)
    {
        await using var scene = await Scene.StartAsync(postgres, distribution ? "chaos-dist-kill" : "chaos-silo-kill", settings, settings.WritesPerSecond);
        var victim = distribution ? scene.DistributionSilo() : scene.Platform.Silos.First(s => s != scene.DistributionSilo());
        var since = Stopwatch.StartNew();
        await victim.Process.KillAsync();
        Log($"silo {scene.Platform.Silos.IndexOf(victim) + 1} killed");
        var recovery = await scene.RecoveryAsync(since, settings.Patience);
        return await FinishAsync(scene, settings, distribution ? "kill -9 of the silo holding the pool's distribution grain" : "kill -9 of one of two silos (not the distribution grain's)",
            settings.WritesPerSecond, recovery, TimeSpan.FromSeconds(90), "recovery: from the kill until a write is acknowledged and applied by both workers");
    }

    /// <summary>PostgreSQL stopped (immediate), then started again.</summary>
    private static async Task<Outcome> PostgresDownAsync(PostgresServer postgres, Settings settings)
    {
        await using var scene = await Scene.StartAsync(postgres, "chaos-pg-down", settings, settings.WritesPerSecond);
        await postgres.StopAsync();
        Log($"PostgreSQL stopped for {settings.PostgresDown.TotalSeconds:0} s");
        try
        {
            await Task.Delay(settings.PostgresDown);
        }
        finally
        {
            await postgres.StartAgainAsync();
        }
        var since = Stopwatch.StartNew();
        var recovery = await scene.RecoveryAsync(since, settings.Patience);
        return await FinishAsync(scene, settings, $"PostgreSQL stopped {settings.PostgresDown.TotalSeconds:0} s",
            settings.WritesPerSecond, recovery, TimeSpan.FromSeconds(30), "recovery: from the restart until a write is acknowledged and applied by both workers");
    }

    /// <summary>A stable backend killed, or frozen with SIGSTOP: requests may fail only until the health verdict.</summary>
    private static async Task<Outcome> BackendAsync(PostgresServer postgres, Settings settings, bool hang)
    {
        await using var scene = await Scene.StartAsync(postgres, hang ? "chaos-backend-hung" : "chaos-backend-kill", settings, settings.WritesPerSecond);
        var since = Stopwatch.StartNew();
        if (hang)
            scene.B.Freeze(true);
        else
            scene.B.Kill();
        Log(hang ? "backend b frozen (SIGSTOP)" : "backend b killed");
        string[] verdicts = [];
        while ((verdicts = await scene.VerdictsAsync()) is not [_, "Unhealthy"])
        {
            if (since.Elapsed > settings.Patience)
                throw new TimeoutException($"No verdict on backend b: {string.Join(", ", verdicts)}");
            await Task.Delay(100);
        }
        var verdict = since.Elapsed;
        var verdictMoment = scene.Traffic.Now;
        Log($"verdict: b unhealthy after {verdict.TotalSeconds:0.0} s");
        await Task.Delay(settings.AfterVerdict);
        var outcome = await FinishAsync(scene, settings, hang ? "a backend hanging (SIGSTOP)" : "a backend killed",
            settings.WritesPerSecond, verdict, TimeSpan.FromSeconds(15),
            "recovery: from the fault until the health verdict; failed requests: before the verdict / after it",
            scene.Traffic.FailedAfter(verdictMoment), backendScenario: true);
        if (hang)
            scene.B.Freeze(false);
        return outcome;
    }

    /// <summary>The whole control plane down; a worker killed and started again meanwhile serves from its last-known-good file.</summary>
    private static async Task<Outcome> WorkerRestartAsync(PostgresServer postgres, Settings settings)
    {
        await using var scene = await Scene.StartAsync(postgres, "chaos-worker-restart", settings, settings.WritesPerSecond);
        foreach (var silo in scene.Platform.Silos)
            await silo.Process.KillAsync();
        var worker = scene.Platform.Workers[0];
        scene.Traffic.Pause(worker);
        await worker.KillAsync();
        var restart = Stopwatch.StartNew();
        await worker.StartAsync();
        var workerReady = restart.Elapsed;
        scene.Traffic.Resume(worker);
        Log($"worker-1 killed and ready again after {workerReady.TotalSeconds:0.0} s, with the control plane down; back in the load from then on");
        await Task.Delay(settings.Settle * 2);
        var since = Stopwatch.StartNew();
        foreach (var silo in scene.Platform.Silos)
            await silo.StartAsync();
        var ready = since.Elapsed;
        var recovery = await scene.RecoveryAsync(since, settings.Patience);
        return await FinishAsync(scene, settings, "a worker killed and restarted while the control plane is down",
            settings.WritesPerSecond, recovery, TimeSpan.FromSeconds(60),
            $"both silos said they were ready {ready.TotalSeconds:0.0} s after their restart; the worker was ready {workerReady.TotalSeconds:0.0} s after its restart, serving its last-known-good configuration; recovery: from the control plane's restart until a write is applied by both workers");
    }

    /// <summary>100 config writes/s on other routes for a while, the stable route taking traffic.</summary>
    private static async Task<Outcome> WriteStormAsync(PostgresServer postgres, Settings settings)
    {
        const int rate = 100;
        await using var scene = await Scene.StartAsync(postgres, "chaos-storm", settings, rate);
        await Task.Delay(settings.Storm);
        await scene.Writes.StopAsync();
        var since = Stopwatch.StartNew();
        foreach (var worker in scene.Platform.Workers)
            await worker.WaitForRevisionAsync(scene.Writes.HighestRevision, settings.Patience);
        var recovery = since.Elapsed;
        return await FinishAsync(scene, settings, $"{rate} config writes/s for {settings.Storm.TotalSeconds:0} s on other routes",
            rate, recovery, TimeSpan.FromSeconds(30),
            $"{scene.Writes.Acknowledged} writes acknowledged in {settings.Storm.TotalSeconds:0} s; recovery: from the last write until both workers applied the highest acknowledged revision");
    }

    /// <summary>
    /// Delay and loss between one worker and the control plane, that worker in a network namespace of its own and
    /// reaching the silos through a relay each: <c>tc netem</c> delays and drops where the kernel has it; otherwise
    /// the relays delay and iptables drops packets in the kernel (docs/decisions.md, "Network faults without netem").
    /// </summary>
    private static async Task<Outcome> NetworkAsync(PostgresServer postgres, Settings settings)
    {
        const string name = "network delay/loss worker <-> control plane";
        if (Environment.UserName != "root")
        {
            Log("skipped: the network scenario needs root (ip netns, veth, tc or iptables); run the suite as root");
            return new Outcome(name, "-", 0, 0, 0, false, 0, 0, 0, 0, TimeSpan.Zero, TimeSpan.Zero, "skipped: not root");
        }
        await using var network = await NetworkNamespace.CreateAsync();
        var netem = await network.KernelHasNetemAsync();
        if (!netem && !await network.CanDropAsync())
        {
            Log("skipped: this kernel has no netem, and iptables with its statistic match is not available to drop packets instead");
            return new Outcome(name, "-", 0, 0, 0, false, 0, 0, 0, 0, TimeSpan.Zero, TimeSpan.Zero, "skipped: neither netem nor iptables' statistic match");
        }
        var delay = TimeSpan.FromMilliseconds(300);
        var jitter = TimeSpan.FromMilliseconds(100);
        var relays = new List<LatencyRelay>();
        try
        {
            await using var scene = await Scene.StartAsync(postgres, "chaos-network", settings, settings.WritesPerSecond,
                backendIp: NetworkNamespace.HostIp, siloArgs: [$"--Grpc:Url=http://{NetworkNamespace.HostIp}:0"],
                secondWorker: platform =>
                {
                    // worker-2 prefers the second silo, as in every other scene.
                    foreach (var silo in platform.Silos.Skip(1).Concat(platform.Silos.Take(1)))
                    {
                        var grpc = new Uri(silo.GrpcUrl);
                        relays.Add(LatencyRelay.Start(IPAddress.Parse(NetworkNamespace.HostIp), new IPEndPoint(IPAddress.Parse(grpc.Host), grpc.Port), delay, jitter));
                    }
                    var urls = string.Join(',', relays.Select(r => $"http://{r.Endpoint}"));
                    return platform.StartWorkerAsync(network.Launcher, "worker-2", 1, $"--ControlPlane:Url={urls}",
                        $"--Proxy:Url=http://{NetworkNamespace.InsideIp}:0", $"--Ops:Url=http://{NetworkNamespace.InsideIp}:0", "--Proxy:HttpsUrl=off");
                });
            var relayPorts = relays.Select(r => r.Endpoint.Port).ToArray();
            string how;
            if (netem)
            {
                await network.ImpairAsync(relayPorts, "delay 300ms 100ms loss 10%");
                how = "tc netem";
            }
            else
            {
                foreach (var relay in relays)
                    relay.Delaying = true;
                await network.DropAsync(relayPorts, 0.1);
                how = "a delaying relay and iptables statistic drops (no netem in this kernel)";
            }
            Log($"delay 300 ms ± 100 ms, loss 10 % on the control-plane traffic of worker-2 for {settings.NetworkFault.TotalSeconds:0} s ({how})");
            await Task.Delay(settings.NetworkFault);
            var drops = netem ? "" : await network.DropCountsAsync() is var (passed, dropped) ? $"; the kernel dropped {dropped:N0} of {passed + dropped:N0} control-plane packets of worker-2" : "";
            await network.RepairAsync();
            foreach (var relay in relays)
                relay.Delaying = false;
            var since = Stopwatch.StartNew();
            var recovery = await scene.RecoveryAsync(since, settings.Patience);
            return await FinishAsync(scene, settings, $"delay 300±100 ms and 10 % loss worker <-> control plane for {settings.NetworkFault.TotalSeconds:0} s ({(netem ? "netns + tc netem" : "netns, relay delay + iptables loss")})",
                settings.WritesPerSecond, recovery, TimeSpan.FromSeconds(30), $"recovery: from the repair until a write is acknowledged and applied by both workers{drops}");
        }
        finally
        {
            foreach (var relay in relays)
                await relay.DisposeAsync();
        }
    }

    /// <summary>Load for a last while, then stops it and the writes, and checks every acknowledged write.</summary>
    private static async Task<Outcome> FinishAsync(Scene scene, Settings settings, string name, int writesPerSecond, TimeSpan recovery, TimeSpan budget,
        string notes, long failedAfterVerdict = 0, bool backendScenario = false)
    {
        await Task.Delay(settings.Settle);
        await scene.Writes.StopAsync();
        await scene.Traffic.DisposeAsync();
        var lost = await scene.Writes.VerifyAsync(scene.Platform.Workers, settings.Patience);
        var writes = scene.Writes;
        foreach (var failure in scene.Traffic.FirstFailures.Take(5))
            Log($"  failed request: {failure}");
        foreach (var unexpected in writes.Unexpected.Take(5))
        {
            Log($"  unexpected admin answer: {unexpected}");
            // What the control plane logged about it: its request ID is in the problem.
            if (System.Text.RegularExpressions.Regex.Match(unexpected, "\"requestId\":\"(?<id>[^\"]+)\"") is { Success: true } id)
                foreach (var silo in scene.Platform.Silos)
                {
                    var lines = silo.Process.Output.Split('\n');
                    var at = Array.FindIndex(lines, l => l.Contains(id.Groups["id"].Value, StringComparison.Ordinal));
                    if (at < 0)
                        at = Array.FindIndex(lines, l => l.Contains("fail:", StringComparison.Ordinal) && !l.Contains("Orleans", StringComparison.Ordinal));
                    if (at >= 0)
                        Log($"  silo {scene.Platform.Silos.IndexOf(silo) + 1} logged:\n{string.Join('\n', lines.Skip(Math.Max(0, at - 2)).Take(25))}");
                }
        }
        foreach (var missing in lost.Missing.Concat(lost.NotServed).Take(5))
            Log($"  lost: {missing}");
        var outcome = new Outcome(name, Load(settings, writesPerSecond), scene.Traffic.Sent, scene.Traffic.Failed, failedAfterVerdict, backendScenario,
            writes.Acknowledged, lost.Count, writes.Unavailable, writes.ServerErrors + writes.OtherAnswers + writes.Hung, recovery, budget,
            $"{notes}; writes: {writes.Sent} sent, {writes.Acknowledged} acknowledged, {writes.Unavailable} answered 503 problem+json, {writes.Refused} refused by a node that was down, " +
            $"{writes.ServerErrors} other 5xx, {writes.OtherAnswers} 4xx, {writes.Hung} unanswered past {Testing.Chaos.AdminWrites.Timeout.TotalSeconds:0} s");
        return outcome;
    }

    public static void Log(string line) => Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {line}");
}
