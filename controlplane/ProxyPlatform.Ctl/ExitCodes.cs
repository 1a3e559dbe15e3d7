namespace ProxyPlatform.Ctl;

/// <summary>The exit codes scripts can rely on.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The command failed: the control plane refused it or could not be reached.</summary>
    public const int Failure = 1;
    /// <summary>The command line is wrong: unknown command or option, a missing or malformed value, an unreadable file.</summary>
    public const int Usage = 2;
    /// <summary><c>diff --exit-code</c> found a difference.</summary>
    public const int DiffFound = 3;
}

/// <summary>A command line that cannot be carried out as written (exit 2).</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>A failure that is not the control plane's answer (exit 1), e.g. a wait that timed out.</summary>
public sealed class CommandFailedException(string message) : Exception(message);
