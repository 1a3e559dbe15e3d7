using System.Globalization;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench.Throughput;

/// <summary>What to run; the defaults are the published run.</summary>
/// <param name="Targets">Target keys to measure (direct, worker, worker-open, yarp, nginx, haproxy); a partial run prints its figures but does not write them.</param>
/// <param name="Rate">The constant rate; by default half of the worker's (or the first target's) saturation.</param>
public sealed record ThroughputOptions(int Runs = 3, int Seconds = 10, IReadOnlyList<string>? Targets = null, int? Rate = null);

/// <summary>
/// Request throughput: requests/s and latency of the ProxyPlatform worker against a
/// backend reached directly, a bare YARP app, nginx and HAProxy, all in front of the same three
/// backends and loaded by the same tools in the same run; then latency at a constant rate of half
/// the worker's saturation, for what the worker adds over going direct.
/// </summary>
public static class ThroughputBenchmark
{
    /// <summary>The Host header of every request: the worker's tenant hostname (the peers ignore it).</summary>
    public const string Host = "bench.local";

    private static readonly TimeSpan FirstWarmup = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(2);

    public static async Task RunAsync(ThroughputOptions options, CancellationToken cancellationToken)
    {
        var duration = TimeSpan.FromSeconds(options.Seconds);
        var loadBefore = LoadAverage();
        await using var lineup = await Lineup.StartAsync(cancellationToken);
        var targets = lineup.Targets.Where(t => options.Targets is null || options.Targets.Contains(t.Key)).ToList();
        if (targets.Count == 0)
            throw new ArgumentException($"No target matches {string.Join(',', options.Targets!)}; known: {string.Join(',', lineup.Targets.Select(t => t.Key))}.");
        foreach (var target in targets)
            Console.WriteLine($"{target.Key,-8} {target.Name,-34} {target.Url} (pid {target.Pid})");

        // The first run of each also brings the .NET targets through tiered compilation.
        Console.WriteLine($"--- warm-up: {FirstWarmup.TotalSeconds:0} s each");
        foreach (var target in targets)
            await WrkLoad.RunAsync(target, FirstWarmup, cancellationToken);

        var saturation = targets.ToDictionary(t => t, _ => new List<Saturation>());
        for (var run = 1; run <= options.Runs; run++)
        {
            foreach (var target in targets)
            {
                await WrkLoad.RunAsync(target, Warmup, cancellationToken);
                var result = await WrkLoad.RunAsync(target, duration, cancellationToken);
                saturation[target].Add(result);
                Console.WriteLine($"saturation run {run}: {target.Key,-8} {result.RequestsPerSecond,9:N0} req/s  p50 {result.P50Ms:0.00} ms  p99 {result.P99Ms:0.00} ms  " +
                    $"CPU {result.CpuMicrosecondsPerRequest:0.0} µs/req  errors {result.Errors}");
            }
        }

        var rateFrom = targets.FirstOrDefault(t => t.Key == "worker") ?? targets[0];
        var rate = options.Rate ?? (int)Math.Max(100, Math.Round(Median(saturation[rateFrom], s => s.RequestsPerSecond) / 2 / 100) * 100);
        Console.WriteLine($"--- constant rate: {rate} req/s (half of {rateFrom.Key}'s saturation unless --rate was given)");
        var constant = targets.ToDictionary(t => t, _ => new List<ConstantRate>());
        for (var run = 1; run <= options.Runs; run++)
        {
            foreach (var target in targets)
            {
                var result = await ConstantRateLoad.RunAsync(target.Url, rate, Warmup, duration, cancellationToken);
                constant[target].Add(result);
                Console.WriteLine($"constant-rate run {run}: {target.Key,-8} {result.AchievedRate,9:N0} req/s  p50 {result.P50Ms:0.000} ms  p99 {result.P99Ms:0.000} ms  errors {result.Errors}");
            }
        }

        var markdown = Report(targets, saturation, constant, rate, options, duration, loadBefore);
        Console.WriteLine();
        Console.WriteLine(markdown);
        if (targets.Count == lineup.Targets.Count && options.Rate is null)
            WriteSection("throughput", markdown);
        else
            Console.WriteLine("Not written to docs/benchmarks.md: only a full run (all targets, the default rate) is.");
    }

    private static string Report(List<Target> targets, Dictionary<Target, List<Saturation>> saturation, Dictionary<Target, List<ConstantRate>> constant,
        int rate, ThroughputOptions options, TimeSpan duration, double loadBefore)
    {
        var rps = targets.ToDictionary(t => t.Key, t => Median(saturation[t], s => s.RequestsPerSecond));
        string Ratio(Target target, string peer) => rps.TryGetValue(peer, out var baseline) ? F(rps[target.Key] / baseline, "0.00") + "x" : "–";
        var directP99 = targets.FirstOrDefault(t => t.Key == "direct") is { } direct ? Median(constant[direct], c => c.P99Ms) : double.NaN;
        var runs = options.Runs.ToString(CultureInfo.InvariantCulture);

        var md = new System.Text.StringBuilder();
        md.AppendLine("## Request throughput");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh throughput` — {Machine()}. **All of it shares these 2 cores**: the load tool, the proxy");
        md.AppendLine("under test, the backends, and the (idle) control plane and PostgreSQL. Absolute figures are therefore low and noisy;");
        md.AppendLine("the ratios between targets measured in the same run are what carry over.");
        md.AppendLine(loadBefore < 1
            ? $"The 1-minute load average was {F(loadBefore, "0.00")} when the run started (an idle machine)."
            : $"**The 1-minute load average was {F(loadBefore, "0.00")} when the run started: other work was running, and these figures are not representative.**");
        md.AppendLine();
        md.AppendLine("Backends: one nginx worker answering a 10-byte body on three loopback ports. \"direct\" sends to one of them. Each proxy");
        md.AppendLine("forwards round robin over the same three with keep-alive upstream connections, adding X-Forwarded-For/-Proto/-Host:");
        md.AppendLine("the ProxyPlatform worker (Release; configured through the admin API: a tenant, a RoundRobin cluster of the three");
        md.AppendLine("backends, a `/` route; request IDs on), bare YARP (static in-memory config, one route, one RoundRobin cluster:");
        md.AppendLine("`infra/bench/ProxyPlatform.Bench.BareYarp`), nginx (1 worker process, `keepalive 64`) and HAProxy (`nbthread 1`,");
        md.AppendLine("`http-reuse always`). Configurations: `infra/bench/ProxyPlatform.Bench/Throughput/`.");
        md.AppendLine();
        md.AppendLine("### Saturation");
        md.AppendLine();
        md.AppendLine($"{WrkLoad.Describe(duration)} (wrk 4.1) after a {Warmup.TotalSeconds:0} s warm-up; {runs} runs per target, interleaved; each figure is the median of the runs.");
        md.AppendLine("CPU/request is the CPU time of the target's own processes during the run divided by the requests answered (for \"direct\", the backends').");
        md.AppendLine();
        md.AppendLine(Table(
            ["target", "requests/s", "vs bare YARP", "vs nginx", "p50 ms", "p99 ms", "CPU µs/request", "runs (requests/s)", "errors"],
            targets.Select(t => new[]
            {
                t.Name, F(rps[t.Key], "N0"), Ratio(t, "yarp"), Ratio(t, "nginx"),
                F(Median(saturation[t], s => s.P50Ms), "0.00"), F(Median(saturation[t], s => s.P99Ms), "0.00"),
                F(Median(saturation[t], s => s.CpuMicrosecondsPerRequest), "0"),
                string.Join(" / ", saturation[t].Select(s => F(s.RequestsPerSecond, "N0"))),
                saturation[t].Sum(s => s.Errors).ToString(CultureInfo.InvariantCulture),
            })));
        if (targets.FirstOrDefault(t => t.Key == "worker") is { } worker)
            md.AppendLine($"The worker answers **{Ratio(worker, "yarp")}** the requests/s of bare YARP and **{Ratio(worker, "nginx")}** those of nginx (targets: ≥ 1.0x each).");
        if (targets.FirstOrDefault(t => t.Key == "worker") is { } keyed && targets.FirstOrDefault(t => t.Key == "worker-open") is { } open)
            md.AppendLine($"Under a control plane with credentials the worker answers **{F(rps[keyed.Key] / rps[open.Key], "0.00")}x** the requests/s it answers under one without (target ≥ 0.95x): credentials are checked on the admin API and the stream, never per proxied request.");
        md.AppendLine();
        md.AppendLine("### Latency at a constant rate");
        md.AppendLine();
        md.AppendLine($"{rate:N0} requests/s, half of the worker's saturation above, to every target, from an open-loop client (`ConstantRateLoad.cs`;");
        md.AppendLine($"Debian packages no wrk2): {ConstantRateLoad.Connections} keep-alive connections, each request timed from when it was due rather than when it");
        md.AppendLine($"went out, so stalls are not hidden (no coordinated omission). {Warmup.TotalSeconds:0} s warm-up, then {duration.TotalSeconds:0} s measured; {runs} runs per target,");
        md.AppendLine("interleaved; medians of the runs. The client's own overhead is in every row, direct included.");
        md.AppendLine();
        md.AppendLine(Table(
            ["target", "requests/s answered", "p50 ms", "p99 ms", "added p99 vs direct, ms", "errors"],
            targets.Select(t =>
            {
                var p99 = Median(constant[t], c => c.P99Ms);
                return new[]
                {
                    t.Name, F(Median(constant[t], c => c.AchievedRate), "N0"), F(Median(constant[t], c => c.P50Ms), "0.000"), F(p99, "0.000"),
                    t.Key == "direct" ? "–" : F(p99 - directP99, "0.000"), constant[t].Sum(c => c.Errors).ToString(CultureInfo.InvariantCulture),
                };
            })));
        if (targets.FirstOrDefault(t => t.Key == "worker") is { } w)
            md.AppendLine($"The worker adds **{F(Median(constant[w], c => c.P99Ms) - directP99, "0.000")} ms** to the p99 of going direct (target: ≤ 0.5 ms).");
        return md.ToString();
    }

    private static double Median<T>(IEnumerable<T> runs, Func<T, double> figure) => Percentile(runs.Select(figure).ToList(), 50);
}
