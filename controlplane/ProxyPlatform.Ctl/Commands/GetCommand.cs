using System.CommandLine;
using System.Text.Json.Nodes;
using ProxyPlatform.Ctl.Output;

namespace ProxyPlatform.Ctl.Commands;

/// <summary><c>ppctl get KIND [ID] [--tenant T] [--cluster C] [-o json|yaml]</c>: every item of a list (following its cursors), or one item.</summary>
public static class GetCommand
{
    public static Command Create(Session session)
    {
        var kind = new Argument<string>("kind") { Description = "One of: " + string.Join(", ", ResourceKind.All.Select(k => k.Name)) + "." };
        kind.Validators.Add(result =>
        {
            var value = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (ResourceKind.Find(value) is null)
                result.AddError($"'{value}' is not a kind ppctl can get: use one of {string.Join(", ", ResourceKind.All.Select(k => k.Name))}.");
        });
        var id = new Argument<string?>("id") { Description = "One item's ID (optional).", Arity = ArgumentArity.ZeroOrOne };
        var tenant = Options.Tenant();
        var cluster = new Option<string?>("--cluster", "-c") { Description = "The cluster (for backends)." };
        var revision = new Option<long?>("--revision", "-r") { Description = "For config: the tenant's configuration as of this revision." };
        var output = Outputs.Option();
        var command = new Command("get", "List resources, or show one; 'get config' is a tenant's whole configuration, as apply takes it.") { kind, id, tenant, cluster, revision, output };
        command.SetAction(async (parse, ct) =>
        {
            var what = ResourceKind.Find(parse.GetRequiredValue(kind))!;
            var scope = new Scope(parse.GetValue(tenant), parse.GetValue(cluster), parse.GetValue(revision));
            if (scope.Revision is not null && !what.IsDocument)
                throw new UsageException($"get {what.Name} takes no --revision (only get config does).");
            if (what.NeedsTenant && scope.Tenant is null)
                throw new UsageException($"get {what.Name} needs --tenant.");
            if (what.NeedsCluster && scope.Cluster is null)
                throw new UsageException($"get {what.Name} needs --cluster.");
            var format = parse.GetValue(output);
            var client = session.Client();

            if (what.IsDocument)
            {
                if (parse.GetValue(id) is not null)
                    throw new UsageException($"get {what.Name} takes no ID.");
                var document = await client.GetAsync(what.ListPath(scope), ct);
                Outputs.TryWriteData(session.Out, format == "json" ? "json" : "yaml", document);
                return ExitCodes.Ok;
            }

            if (parse.GetValue(id) is { } one)
            {
                if (what.ItemPath is null)
                    throw new UsageException($"get {what.Name} lists them all; it takes no ID.");
                var item = await client.GetAsync(what.ItemPath(scope, one), ct);
                if (!Outputs.TryWriteData(session.Out, format, item))
                    what.WriteTable(session.Out, [item]);
                return ExitCodes.Ok;
            }

            var items = await client.ListAsync(what.ListPath(scope), ct);
            if (!Outputs.TryWriteData(session.Out, format, new JsonArray([.. items])))
                what.WriteTable(session.Out, items);
            return ExitCodes.Ok;
        });
        return command;
    }
}
