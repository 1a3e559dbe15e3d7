using ProxyPlatform.Ctl;

namespace ProxyPlatform.EndToEnd.Tests.Ctl;

/// <summary>What one run of ppctl did: its exit code and what it printed.</summary>
public sealed record PpctlResult(int ExitCode, string Out, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Out}\n--- stderr ---\n{Error}";
}

/// <summary>
/// A user of ppctl: a home of their own (<c>XDG_CONFIG_HOME</c> in a temporary folder) and an environment
/// (<c>PPCTL_URL</c>, <c>PPCTL_KEY</c> when given). ppctl runs in the test process through its entry point,
/// as the built tool would, with this user's console; runs of different users do not share anything.
/// </summary>
public sealed class PpctlUser : IDisposable
{
    private readonly Dictionary<string, string?> _variables = new(StringComparer.Ordinal);

    public PpctlUser(string? url = null, string? key = null)
    {
        Home = Directory.CreateTempSubdirectory("ppctl-user-").FullName;
        _variables["HOME"] = Home;
        _variables["XDG_CONFIG_HOME"] = Path.Combine(Home, "config");
        _variables["PPCTL_URL"] = url;
        _variables["PPCTL_KEY"] = key;
    }

    public string Home { get; }

    /// <summary>Where ppctl login writes: <c>$XDG_CONFIG_HOME/ppctl/config.json</c>.</summary>
    public string LoginFile => Path.Combine(Home, "config", "ppctl", "config.json");

    public Task<PpctlResult> RunAsync(params string[] args) => RunWithInputAsync("", args);

    public async Task<PpctlResult> RunWithInputAsync(string input, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var console = new CtlConsole
        {
            Out = output,
            Error = error,
            In = new StringReader(input),
            Variable = name => _variables.GetValueOrDefault(name),
        };
        var code = await Ppctl.RunAsync(args, console);
        var result = new PpctlResult(code, output.ToString(), error.ToString());
        TestContext.Current.TestOutputHelper?.WriteLine($"$ ppctl {string.Join(' ', args)}\n{result}");
        return result;
    }

    /// <summary>Writes <paramref name="text"/> to a file in this user's home and returns its path.</summary>
    public string File(string name, string text)
    {
        var path = Path.Combine(Home, name);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Home, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
