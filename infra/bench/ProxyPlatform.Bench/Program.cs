using System.Runtime.InteropServices;
using ProxyPlatform.Bench;
using ProxyPlatform.Bench.FanOut;
using ProxyPlatform.Bench.RateLimit;
using ProxyPlatform.Bench.Throughput;
using ProxyPlatform.Bench.Tls;

// infra/bench/run.sh [all|propagation|restart|access|overlap|audit|fanout|apply|scaleup|throughput|ratelimit|tls] [--writes N] [--streams N] [--routes N] [--requests N] [--uncapped]
//                    [--runs N] [--seconds N] [--targets direct,worker,yarp,nginx,haproxy] [--rate N]
//                    [--handshakes N] [--certificates N]
var which = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : "all";
int? Option(string name) => args.SkipWhile(a => a != name).Skip(1).Select(int.Parse).Cast<int?>().FirstOrDefault();
var throughput = new ThroughputOptions(
    Runs: Option("--runs") ?? 3,
    Seconds: Option("--seconds") ?? 10,
    Targets: args.SkipWhile(a => a != "--targets").Skip(1).FirstOrDefault()?.Split(','),
    Rate: Option("--rate"));
var tls = new TlsOptions(
    Runs: Option("--runs") ?? 3,
    Seconds: Option("--seconds") ?? 10,
    Handshakes: Option("--handshakes") ?? 100,
    Certificates: Option("--certificates") ?? 1000);

// Ctrl-C or SIGTERM during the throughput or TLS benchmark stops the load and disposes of everything it started.
using var interrupt = new CancellationTokenSource();
var interruptible = false;
void Interrupt(PosixSignalContext context)
{
    if (!interruptible)
        return;
    context.Cancel = true;
    interrupt.Cancel();
}
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);

switch (which)
{
    case "propagation":
        await PropagationBenchmark.RunAsync(Option("--writes") ?? 200, Option("--runs") ?? 3);
        break;
    case "restart":
        await RestartBenchmark.RunAsync(Option("--runs") ?? 9);
        break;
    case "access":
        await AccessBenchmark.RunAsync(Option("--runs") ?? 5, Option("--writes") ?? 2000);
        break;
    case "overlap":
        await OverlapBenchmark.RunAsync(Option("--runs") ?? 3, Option("--writes") ?? 2000, Option("--routes") ?? 10_000);
        break;
    case "audit":
        await AuditBenchmark.RunAsync(Option("--runs") ?? 3, Option("--writes") ?? 2000);
        break;
    case "fanout":
        await FanOutBenchmark.RunAsync(Option("--streams") is { } streams ? [streams] : [1_000, 2_000], Option("--writes") ?? 100);
        break;
    case "apply":
        await ApplyBenchmark.RunAsync(Option("--runs") ?? 3);
        break;
    case "scaleup":
        await ScaleUpBenchmark.RunAsync(Option("--runs") ?? 3, Option("--routes") ?? 10_000);
        break;
    case "ratelimit":
        await RateLimitBenchmark.RunAsync(Option("--requests") ?? 1_000_000, args.Contains("--uncapped"));
        break;
    case "throughput":
    case "tls":
    case "all":
        if (which == "all")
        {
            await PropagationBenchmark.RunAsync(Option("--writes") ?? 200, Option("--runs") ?? 3);
            await RestartBenchmark.RunAsync(Option("--runs") ?? 9);
            await AccessBenchmark.RunAsync(Option("--runs") ?? 5, Option("--writes") ?? 2000);
            await OverlapBenchmark.RunAsync(Option("--runs") ?? 3, Option("--writes") ?? 2000);
            await AuditBenchmark.RunAsync(Option("--runs") ?? 3, Option("--writes") ?? 2000);
            await FanOutBenchmark.RunAsync([1_000, 2_000], 100);
            await ApplyBenchmark.RunAsync(Option("--runs") ?? 3);
            await ScaleUpBenchmark.RunAsync(Option("--runs") ?? 3, 10_000);
            await RateLimitBenchmark.RunAsync(Option("--requests") ?? 1_000_000, args.Contains("--uncapped"));
        }
        interruptible = true;
        try
        {
            if (which != "tls")
                await ThroughputBenchmark.RunAsync(throughput, interrupt.Token);
            if (which != "throughput")
                await TlsBenchmark.RunAsync(tls, interrupt.Token);
        }
        catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
        {
            Console.Error.WriteLine("Interrupted; everything the benchmark started has been stopped.");
            return 130;
        }
        break;
    default:
        Console.Error.WriteLine($"Unknown benchmark '{which}'. Known: propagation, restart, access, overlap, audit, fanout, apply, scaleup, ratelimit, throughput, tls, all (the default).");
        return 2;
}
return 0;
