using System.CommandLine;
using ProxyPlatform.Ctl.Http;
using ProxyPlatform.Ctl.Login;

namespace ProxyPlatform.Ctl.Commands;

/// <summary><c>ppctl login --url U --key K</c>: checks the key against the control plane, then keeps both in the login file.</summary>
public static class LoginCommand
{
    public static Command Create(Session session)
    {
        var url = new Option<string>("--url") { Description = "The control plane's admin API, e.g. http://127.0.0.1:5100.", Required = true };
        var key = new Option<string>("--key") { Description = "The API key (ppk_...); '-' reads it from standard input, out of the shell's history.", Required = true };
        var command = new Command("login", "Check a control plane URL and key, and keep them (mode 0600) for the next commands.") { url, key };
        command.SetAction(async (parse, ct) =>
        {
            var connection = new Connection
            {
                Url = LoginFile.ParseUrl(parse.GetRequiredValue(url), "--url"),
                Key = ReadKey(parse.GetRequiredValue(key), session.Console),
            };
            using var http = ControlPlaneClient.HttpClientFor(connection);
            // Every admin key may list tenants (a tenant's key sees its own): a refusal here is the key's.
            var tenants = await new ControlPlaneClient(http).ListAsync("v1/tenants", ct);
            session.LoginFile.Write(connection);
            session.Out.WriteLine($"Logged in to {connection.Url} ({tenants.Count} tenant{(tenants.Count == 1 ? "" : "s")} visible); saved in {session.LoginFile.Path}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string ReadKey(string value, CtlConsole console)
    {
        var key = value == "-" ? console.In.ReadLine()?.Trim() : value.Trim();
        return key is { Length: > 0 } ? key : throw new UsageException("--key: the key is empty.");
    }
}
