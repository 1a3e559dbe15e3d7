namespace ProxyPlatform.Ctl;

/// <summary>
/// What one run of ppctl reads and writes besides the network: its output streams, its input (for
/// <c>-f -</c> and <c>--key -</c>), its environment variables and the user's home. A test hands in its own,
/// so that runs in one process do not share them.
/// </summary>
public sealed record CtlConsole
{
    public required TextWriter Out { get; init; }
    public required TextWriter Error { get; init; }
    public TextReader In { get; init; } = TextReader.Null;
    /// <summary>An environment variable's value, or null when it is not set.</summary>
    public required Func<string, string?> Variable { get; init; }

    public static CtlConsole FromProcess() => new()
    {
        Out = Console.Out,
        Error = Console.Error,
        In = Console.In,
        Variable = Environment.GetEnvironmentVariable,
    };
}
