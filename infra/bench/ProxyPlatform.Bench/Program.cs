using ProxyPlatform.Bench;

// infra/bench/run.sh [propagation] [--writes N]
var which = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "propagation";
var writes = args.SkipWhile(a => a != "--writes").Skip(1).Select(int.Parse).FirstOrDefault(200);
switch (which)
{
    case "propagation":
        await PropagationBenchmark.RunAsync(writes);
        break;
    default:
        Console.Error.WriteLine($"Unknown benchmark '{which}'. Known: propagation.");
        return 2;
}
return 0;
