using System.CommandLine;
using System.Text.Json.Nodes;
using ProxyPlatform.Ctl.Http;
using ProxyPlatform.Ctl.Output;

namespace ProxyPlatform.Ctl.Commands;

/// <summary>
/// <c>ppctl scale POOL N</c>: a JSON merge patch <c>{"replicas": N}</c> to <c>PATCH /v1/pools/{pool}</c>, so the
/// pool's other settings (limits, autoscale) stay as they are.
/// </summary>
public static class ScaleCommand
{
    public static Command Create(Session session)
    {
        var pool = new Argument<string>("pool") { Description = "The pool." };
        var replicas = new Argument<int>("replicas") { Description = "How many workers the pool should have." };
        replicas.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && int.TryParse(result.Tokens[0].Value, System.Globalization.CultureInfo.InvariantCulture, out var n) && n < 0)
                result.AddError("replicas must be 0 or more.");
        });
        var output = Outputs.Option();
        var command = new Command("scale", "Set how many workers a pool should have.") { pool, replicas, output };
        command.SetAction(async (parse, ct) =>
        {
            var name = parse.GetRequiredValue(pool);
            var answer = await session.Client().MergePatchAsync($"v1/pools/{ControlPlaneClient.Segment(name)}",
                new JsonObject { ["replicas"] = parse.GetValue(replicas) }, ct);
            if (!Outputs.TryWriteData(session.Out, parse.GetValue(output), answer))
                session.Out.WriteLine($"Pool {name}: replicas {Outputs.Cell(answer?["replicas"])} (revision {Outputs.Cell(answer?["revision"])}).");
            return ExitCodes.Ok;
        });
        return command;
    }
}
