using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace ProxyPlatform.Testing;

/// <summary>
/// A control-plane or data-plane process started from its build output, with its output kept for
/// the failure message of a test, and killed (SIGKILL, the whole tree) when asked or disposed.
/// </summary>
public sealed class PlatformProcess : IAsyncDisposable
{
    private readonly string _name;
    private readonly string _dll;
    private readonly string[] _args;
    private readonly IReadOnlyList<string> _launcher;
    private readonly StringBuilder _output = new();
    private Process? _process;

    private PlatformProcess(string name, string dll, string[] args, IReadOnlyList<string>? launcher = null)
    {
        _launcher = launcher ?? [];
        _name = name;
        _dll = dll;
        _args = args;
    }

    public static PlatformProcess ControlPlane(params string[] args) => new("control-plane", Dll("ControlPlaneDll"), args);

    public static PlatformProcess DataPlane(params string[] args) => new("data-plane", Dll("DataPlaneDll"), args);

    /// <summary>A data-plane process whose command line runs through <paramref name="launcher"/> (e.g. <c>ip netns exec NS</c>), which must exec it in place.</summary>
    public static PlatformProcess DataPlane(IReadOnlyList<string> launcher, params string[] args) => new("data-plane", Dll("DataPlaneDll"), args, launcher);

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The operating system's ID of the process (of its latest start).</summary>
    public int Id => _process?.Id ?? throw new InvalidOperationException($"{_name} has not been started.");

    /// <summary>The resident memory of the process, in bytes (from /proc), or 0 when it is not running.</summary>
    public long ResidentBytes
    {
        get
        {
            if (_process is not { HasExited: false } process)
                return 0;
            var status = File.ReadAllLines($"/proc/{process.Id}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return status is null ? 0 : long.Parse(status.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
    }

    /// <summary>The CPU time the process has used so far (user and system), or zero when it is not running.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            try
            {
                return _process is { HasExited: false } process ? process.TotalProcessorTime : TimeSpan.Zero;
            }
            catch (InvalidOperationException)
            {
                return TimeSpan.Zero;
            }
        }
    }

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>
    /// Starts the process and waits until it writes a line that <paramref name="readyLine"/> matches
    /// (its "ready" log line, which names the URLs its listeners were bound to); returns the match.
    /// </summary>
    public async Task<Match> StartAsync(Regex readyLine, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(_launcher.Count > 0 ? _launcher[0] : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in _launcher.Skip(1))
            info.ArgumentList.Add(arg);
        if (_launcher.Count > 0)
            info.ArgumentList.Add("dotnet");
        info.ArgumentList.Add(_dll);
        foreach (var arg in _args)
            info.ArgumentList.Add(arg);
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["Logging__Console__FormatterName"] = "simple";
        var ready = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            Append(e.Data);
            if (e.Data is { } line && !ready.Task.IsCompleted && readyLine.Match(line) is { Success: true } match)
                ready.TrySetResult(match);
        };
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Exited += (_, _) =>
        {
            if (ready.Task.IsCompleted)
                return;
            // Read the output to its end first: the reason the process gave is usually its last line.
            process.WaitForExit();
            ready.TrySetException(new InvalidOperationException($"{_name} exited with {process.ExitCode} during start-up:\n{Output}"));
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        // A deadline for giving up on a process that hangs (one that fails exits, and is reported at
        // once): generous, because a start on a machine busy with other work can take a minute.
        var limit = timeout ?? TimeSpan.FromMinutes(3);
        try
        {
            return await ready.Task.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{_name} did not say it was ready within {limit.TotalSeconds:0} s:\n{Output}");
        }
    }

    /// <summary>Freezes (SIGSTOP) or thaws (SIGCONT) the process: a hung process keeps its sockets open but says nothing.</summary>
    public void Signal(bool freeze)
    {
        if (_process is { HasExited: false } process)
            System.Diagnostics.Process.Start("kill", [freeze ? "-STOP" : "-CONT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
    }

    /// <summary>Kills the process at once, as a crash would.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
        {
            // Keep the tail: enough to explain a failure without growing without bound.
            if (_output.Length > 200_000)
                _output.Remove(0, 100_000);
            _output.AppendLine(line);
        }
    }

    private static string Dll(string key)
    {
        var path = typeof(PlatformProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;
        var full = Path.GetFullPath(path);
        return File.Exists(full) ? full : throw new FileNotFoundException($"Build the solution first: {full} is missing.", full);
    }
}
