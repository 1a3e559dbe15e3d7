using System.CommandLine;
using System.Text.Json.Nodes;
using ProxyPlatform.Ctl.Http;
using ProxyPlatform.Ctl.Output;

namespace ProxyPlatform.Ctl.Commands;

/// <summary><c>ppctl rollback --tenant T --revision N [--dry-run]</c>: the tenant's configuration as of revision N, made current as a new revision.</summary>
public static class RollbackCommand
{
    public static Command Create(Session session)
    {
        var tenant = Options.Tenant(required: true);
        var revision = new Option<long>("--revision", "-r") { Description = "The revision whose configuration to bring back.", Required = true };
        revision.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<long>() <= 0)
                result.AddError("--revision must be a positive whole number.");
        });
        var dryRun = new Option<bool>("--dry-run") { Description = "Show what would change, change nothing." };
        var output = Outputs.Option();
        var command = new Command("rollback", "Bring back a tenant's configuration of an earlier revision, as a new revision.") { tenant, revision, dryRun, output };
        command.SetAction(async (parse, ct) =>
        {
            var name = parse.GetRequiredValue(tenant)!;
            var dry = parse.GetValue(dryRun);
            var path = ControlPlaneClient.WithQuery($"v1/tenants/{ControlPlaneClient.Segment(name)}/rollback", "dryRun", dry ? "true" : null);
            var answer = await session.Client().PostAsync(path, new JsonObject { ["revision"] = parse.GetValue(revision) }, ct);
            if (Outputs.TryWriteData(session.Out, parse.GetValue(output), answer))
                return ExitCodes.Ok;
            ConfigDiff.Write(session.Out, answer);
            session.Out.WriteLine(ApplyCommand.Outcome(name, answer, dry));
            return ExitCodes.Ok;
        });
        return command;
    }
}
