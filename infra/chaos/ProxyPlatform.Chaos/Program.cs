using System.Globalization;
using ProxyPlatform.Chaos;
using ProxyPlatform.Testing;

// infra/chaos/run.sh [scenario[,scenario...]|all] [--short]; "backend NAME IP" is a backend process a scenario started.
if (args is ["backend", var backendName, var ip])
{
    await BackendProcess.ServeAsync(backendName, ip);
    return 0;
}

var settings = new Settings(Short: args.Contains("--short"));
var chosen = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "all";
var scenarios = chosen == "all" ? Scenarios.All : chosen.Split(',', StringSplitOptions.RemoveEmptyEntries);
if (scenarios.Except(Scenarios.All).FirstOrDefault() is { } unknown)
{
    Console.Error.WriteLine($"Unknown scenario '{unknown}'; one of: {string.Join(", ", Scenarios.All)}, all.");
    return 2;
}

Scenarios.Log($"chaos: {string.Join(", ", scenarios)}{(settings.Short ? " (short)" : "")}; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
using var postgres = await PostgresServer.StartOwnAsync();
Scenarios.Log($"PostgreSQL: {postgres.Description}");
var outcomes = new List<Outcome>();
foreach (var scenario in scenarios)
{
    Scenarios.Log($"--- {scenario}");
    try
    {
        var outcome = await Scenarios.RunAsync(scenario, postgres, settings);
        outcomes.Add(outcome);
        Scenarios.Log($"{(outcome.GoalsMet ? "MET" : "MISSED")}: {Row(outcome)}");
        Scenarios.Log($"  {outcome.Notes}");
    }
    catch (Exception e) when (e is not OutOfMemoryException)
    {
        Scenarios.Log($"FAILED to run {scenario}: {e}");
        outcomes.Add(new Outcome(scenario, "-", 0, 0, 0, false, 0, 0, 0, 0, TimeSpan.Zero, TimeSpan.Zero, $"did not run to its end: {e.GetType().Name}: {e.Message.Split('\n')[0]}"));
    }
}

Console.WriteLine();
Console.WriteLine($"Chaos suite, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC{(settings.Short ? ", --short" : "")}");
Console.WriteLine("| scenario | load | failed requests | acknowledged writes lost | recovery time | goals |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
foreach (var outcome in outcomes)
    Console.WriteLine(Row(outcome));
return outcomes.All(o => o.GoalsMet || o.Notes.StartsWith("skipped", StringComparison.Ordinal)) ? 0 : 1;

static string Row(Outcome o)
{
    if (o.Notes.StartsWith("skipped", StringComparison.Ordinal) || o.Notes.StartsWith("did not run", StringComparison.Ordinal))
        return $"| {o.Scenario} | {o.Load} | - | - | - | {o.Notes} |";
    var failed = o.BackendScenario
        ? $"{o.FailedRequests - o.FailedAfterVerdict} before the verdict, {o.FailedAfterVerdict} after, of {o.Requests:N0}"
        : $"{o.FailedRequests} of {o.Requests:N0}";
    var seconds = o.Recovery.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
    return $"| {o.Scenario} | {o.Load} | {failed} | {o.Lost} of {o.Acknowledged:N0} ({o.Unavailable} answered 503, {o.UnexpectedAnswers} other errors) | {seconds} s (within {o.Budget.TotalSeconds:0} s) | {(o.GoalsMet ? "met" : "missed")} |";
}
