using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using ProxyPlatform.Ctl.Output;

namespace ProxyPlatform.Ctl.Commands;

/// <summary>
/// <c>ppctl wait REVISION [--timeout 60s]</c>: until every connected worker of the revision's pool has
/// applied it (<c>GET /v1/revisions/{r}?wait=</c>, asked again until the time-out). Exit 0 when it has,
/// 1 when the time ran out, naming the workers that have not.
/// </summary>
public static class WaitCommand
{
    /// <summary>The longest a single request asks the server to hold its answer (the server's own ceiling).</summary>
    private static readonly TimeSpan MaxServerWait = TimeSpan.FromSeconds(60);

    public static Command Create(Session session)
    {
        var revision = new Argument<long>("revision") { Description = "The revision a write answered (X-Config-Revision)." };
        revision.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && long.TryParse(result.Tokens[0].Value, CultureInfo.InvariantCulture, out var r) && r <= 0)
                result.AddError("revision must be a positive whole number.");
        });
        var timeout = new Option<string>("--timeout") { Description = "How long to wait: 500ms, 30s, 5m, or seconds. Default 60s.", DefaultValueFactory = _ => "60s" };
        timeout.Validators.Add(result =>
        {
            if (Duration(result.GetValueOrDefault<string>()) is null)
                result.AddError($"--timeout: '{result.GetValueOrDefault<string>()}' is not a duration: use e.g. 500ms, 30s or 5m.");
        });
        var output = Outputs.Option();
        var command = new Command("wait", "Wait until every worker of its pool has applied a revision.") { revision, timeout, output };
        command.SetAction(async (parse, ct) =>
        {
            var r = parse.GetValue(revision);
            var limit = Duration(parse.GetValue(timeout)!)!.Value;
            var client = session.Client();
            var deadline = DateTimeOffset.UtcNow + limit;
            JsonNode? rollout;
            while (true)
            {
                var left = deadline - DateTimeOffset.UtcNow;
                var ask = left <= TimeSpan.Zero ? TimeSpan.Zero : left < MaxServerWait ? left : MaxServerWait;
                var seconds = Math.Ceiling(ask.TotalMilliseconds) / 1000;
                rollout = await client.GetAsync($"v1/revisions/{r}?wait={seconds.ToString("0.###", CultureInfo.InvariantCulture)}s", ct);
                if (Complete(rollout) || DateTimeOffset.UtcNow >= deadline)
                    break;
                // A server that does not hold the answer would be asked in a tight loop: pace the asking.
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(250, Math.Max(0, (deadline - DateTimeOffset.UtcNow).TotalMilliseconds))), ct);
            }
            var done = Complete(rollout);
            if (!Outputs.TryWriteData(session.Out, parse.GetValue(output), rollout))
            {
                var workers = rollout?["workers"] as JsonArray ?? [];
                var applied = workers.Count(w => w?["applied"] is JsonValue v && v.TryGetValue<bool>(out var b) && b);
                session.Out.WriteLine(done
                    ? $"Revision {r} is applied by every worker of pool {Outputs.Cell(rollout?["pool"])} ({applied} of {workers.Count})."
                    : $"Revision {r} is not yet applied by every worker of pool {Outputs.Cell(rollout?["pool"])}: pending {Outputs.Cell(rollout?["pending"])}.");
            }
            if (!done)
                throw new CommandFailedException($"revision {r} was not applied by every worker within {parse.GetValue(timeout)}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static bool Complete(JsonNode? rollout) => rollout?["complete"] is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    /// <summary>Durations as the server reads them: <c>500ms</c>, <c>5s</c>, <c>1m</c>, or plain seconds.</summary>
    public static TimeSpan? Duration(string? text)
    {
        if (text is null)
            return null;
        text = text.Trim();
        var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : text.EndsWith('m') ? (text[..^1], 60.0)
            : text.EndsWith('h') ? (text[..^1], 3600.0)
            : (text, 1.0);
        return double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount) && amount >= 0
            ? TimeSpan.FromSeconds(amount * unit)
            : null;
    }
}
