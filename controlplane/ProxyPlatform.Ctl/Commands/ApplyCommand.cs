using System.CommandLine;
using System.Text.Json.Nodes;
using ProxyPlatform.Ctl.Documents;
using ProxyPlatform.Ctl.Http;
using ProxyPlatform.Ctl.Output;

namespace ProxyPlatform.Ctl.Commands;

/// <summary>
/// <c>ppctl apply -f FILE [--dry-run]</c> and <c>ppctl diff -f FILE [--exit-code]</c>: a tenant's whole
/// configuration document (clusters with their backends, routes; YAML or JSON) sent to
/// <c>PUT /v1/tenants/{t}/config</c>, for real or as a dry run that answers the difference.
/// </summary>
public static class ApplyCommand
{
    public static Command Create(Session session)
    {
        var file = FileOption();
        var tenant = Options.Tenant();
        var dryRun = new Option<bool>("--dry-run") { Description = "Show what would change, change nothing." };
        var output = Outputs.Option();
        var command = new Command("apply", "Make a tenant's configuration what the file says, in one revision.") { file, tenant, dryRun, output };
        command.SetAction(async (parse, ct) =>
        {
            var dry = parse.GetValue(dryRun);
            var (name, document) = Document(parse.GetRequiredValue(file), parse.GetValue(tenant), session.Console);
            var answer = await session.Client().PutAsync(ConfigPath(name, dry), document, ct);
            if (Outputs.TryWriteData(session.Out, parse.GetValue(output), answer))
                return ExitCodes.Ok;
            ConfigDiff.Write(session.Out, answer);
            session.Out.WriteLine(Outcome(name, answer, dry));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command CreateDiff(Session session)
    {
        var file = FileOption();
        var tenant = Options.Tenant();
        var exitCode = new Option<bool>("--exit-code") { Description = $"Exit with {ExitCodes.DiffFound} when the file differs from the tenant's configuration." };
        var output = Outputs.Option();
        var command = new Command("diff", "Show how the file differs from the tenant's configuration; change nothing.") { file, tenant, exitCode, output };
        command.SetAction(async (parse, ct) =>
        {
            var (name, document) = Document(parse.GetRequiredValue(file), parse.GetValue(tenant), session.Console);
            var answer = await session.Client().PutAsync(ConfigPath(name, dryRun: true), document, ct);
            if (!Outputs.TryWriteData(session.Out, parse.GetValue(output), answer))
                ConfigDiff.Write(session.Out, answer);
            return parse.GetValue(exitCode) && ConfigDiff.HasChanges(answer) ? ExitCodes.DiffFound : ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>What an apply or a rollback did, in one line.</summary>
    public static string Outcome(string tenant, JsonNode? answer, bool dryRun)
    {
        if (dryRun)
            return $"Dry run: nothing was written to tenant {tenant}.";
        if (!ConfigDiff.HasChanges(answer))
            return $"Tenant {tenant} is already as described: no new revision.";
        return $"Tenant {tenant}: applied at revision {Outputs.Cell(answer?["revision"])}.";
    }

    private static Option<string> FileOption() => new("--file", "-f")
    {
        Description = "The configuration document, YAML or JSON ('-': standard input).",
        Required = true,
    };

    public static string ConfigPath(string tenant, bool dryRun) =>
        ControlPlaneClient.WithQuery($"v1/tenants/{ControlPlaneClient.Segment(tenant)}/config", "dryRun", dryRun ? "true" : null);

    /// <summary>The document and its tenant: the file's <c>tenant</c>, or <c>--tenant</c>; both given, they must agree.</summary>
    private static (string Tenant, JsonObject Document) Document(string path, string? tenantOption, CtlConsole console)
    {
        var document = DocumentFile.Read(path, console);
        var inFile = document["tenant"] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
        if (document["tenant"] is not null && inFile is null)
            throw new UsageException($"{path}: 'tenant' must be a tenant ID.");
        if (inFile is not null && tenantOption is not null && inFile != tenantOption)
            throw new UsageException($"{path} is tenant '{inFile}''s configuration, not '{tenantOption}''s: drop --tenant or fix the file.");
        var tenant = tenantOption ?? inFile ?? throw new UsageException($"{path} names no tenant: add 'tenant: ID' to it, or give --tenant.");
        document["tenant"] = tenant;
        return (tenant, document);
    }
}
