using System.CommandLine;
using ProxyPlatform.Ctl.Commands;
using ProxyPlatform.Ctl.Http;

namespace ProxyPlatform.Ctl;

/// <summary>
/// ppctl's entry point: parses the command line, runs the command, and turns every way it can end into
/// one of <see cref="ExitCodes"/> with a message on standard error, never a stack trace.
/// </summary>
public static class Ppctl
{
    public static RootCommand Commands(Session session)
    {
        var root = new RootCommand("ppctl: the command-line client of ProxyPlatform's admin API.");
        root.Subcommands.Add(LoginCommand.Create(session));
        root.Subcommands.Add(GetCommand.Create(session));
        root.Subcommands.Add(ApplyCommand.Create(session));
        root.Subcommands.Add(ApplyCommand.CreateDiff(session));
        root.Subcommands.Add(RollbackCommand.Create(session));
        root.Subcommands.Add(ScaleCommand.Create(session));
        root.Subcommands.Add(KeysCommand.Create(session));
        root.Subcommands.Add(WaitCommand.Create(session));
        root.Subcommands.Add(ExplainCommand.Create(session));
        return root;
    }

    public static async Task<int> RunAsync(string[] args, CtlConsole console, CancellationToken ct = default)
    {
        using var session = new Session(console);
        var parsed = Commands(session).Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
                console.Error.WriteLine($"ppctl: {error.Message}");
            console.Error.WriteLine("Run 'ppctl --help' for usage.");
            return ExitCodes.Usage;
        }
        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration
            {
                Output = console.Out,
                Error = console.Error,
                EnableDefaultExceptionHandler = false,
            }, ct);
        }
        catch (UsageException ex)
        {
            console.Error.WriteLine($"ppctl: {ex.Message}");
            return ExitCodes.Usage;
        }
        catch (ProblemException ex)
        {
            foreach (var line in ex.Lines())
                console.Error.WriteLine(line);
            return ExitCodes.Failure;
        }
        catch (CommandFailedException ex)
        {
            console.Error.WriteLine($"Error: {ex.Message}");
            return ExitCodes.Failure;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            console.Error.WriteLine("ppctl: cancelled.");
            return ExitCodes.Failure;
        }
        catch (Exception ex)
        {
            // Whatever else went wrong, a user acts on its message, not on a stack trace.
            console.Error.WriteLine($"Error: {ex.Message}");
            return ExitCodes.Failure;
        }
    }
}
