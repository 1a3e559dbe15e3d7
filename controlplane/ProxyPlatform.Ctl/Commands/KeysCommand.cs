using System.CommandLine;
using System.Text.Json.Nodes;
using ProxyPlatform.Ctl.Http;
using ProxyPlatform.Ctl.Output;

namespace ProxyPlatform.Ctl.Commands;

/// <summary><c>ppctl keys create|list|revoke</c>: API keys; a new key's secret is shown once, in the answer to create.</summary>
public static class KeysCommand
{
    public static Command Create(Session session)
    {
        var command = new Command("keys", "Create, list and revoke API keys.");
        command.Subcommands.Add(CreateKey(session));
        command.Subcommands.Add(List(session));
        command.Subcommands.Add(Revoke(session));
        return command;
    }

    private static Command CreateKey(Session session)
    {
        var name = new Option<string>("--name") { Description = "What the key is for.", Required = true };
        var role = new Option<string>("--role") { Description = "operator, tenant-admin or tenant-viewer.", Required = true };
        role.AcceptOnlyFromAmong("operator", "tenant-admin", "tenant-viewer");
        var tenant = Options.Tenant();
        var expires = new Option<DateTimeOffset?>("--expires-at") { Description = "When the key stops working (ISO 8601, e.g. 2027-01-01T00:00:00Z)." };
        var output = Outputs.Option();
        var command = new Command("create", "Create a key; its secret is printed once and never again.") { name, role, tenant, expires, output };
        command.SetAction(async (parse, ct) =>
        {
            var request = new JsonObject
            {
                ["name"] = parse.GetRequiredValue(name),
                ["role"] = parse.GetRequiredValue(role),
                ["tenant"] = parse.GetValue(tenant),
                ["expiresAt"] = parse.GetValue(expires),
            };
            var answer = await session.Client().PostAsync("v1/keys", request, ct);
            if (Outputs.TryWriteData(session.Out, parse.GetValue(output), answer))
                return ExitCodes.Ok;
            session.Out.WriteLine($"Key {Outputs.Cell(answer?["id"])} ({Outputs.Cell(answer?["role"])}{(answer?["tenant"] is { } t ? $" of {t}" : "")}) created.");
            session.Out.WriteLine($"Secret (shown this once): {Outputs.Cell(answer?["secret"])}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(Session session)
    {
        var tenant = Options.Tenant();
        var output = Outputs.Option();
        var command = new Command("list", "List keys (never their secrets).") { tenant, output };
        var kind = ResourceKind.Find("keys")!;
        command.SetAction(async (parse, ct) =>
        {
            var items = await session.Client().ListAsync(kind.ListPath(new Scope(parse.GetValue(tenant), null)), ct);
            if (!Outputs.TryWriteData(session.Out, parse.GetValue(output), new JsonArray([.. items])))
                kind.WriteTable(session.Out, items);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Revoke(Session session)
    {
        var id = new Argument<string>("id") { Description = "The key's ID." };
        var command = new Command("revoke", "Revoke a key: it stops working on every control-plane node.") { id };
        command.SetAction(async (parse, ct) =>
        {
            var key = parse.GetRequiredValue(id);
            await session.Client().DeleteAsync($"v1/keys/{ControlPlaneClient.Segment(key)}", ct);
            session.Out.WriteLine($"Key {key} revoked.");
            return ExitCodes.Ok;
        });
        return command;
    }
}
