using System.Diagnostics;
using System.Text;

namespace ProxyPlatform.Testing;

/// <summary>
/// httpbin (Debian's <c>python3-httpbin</c>) as a real process on a loopback port, served by Flask's
/// threaded development server: the reference backend for header, streaming, delay and status cases.
/// </summary>
public sealed class HttpBinServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private HttpBinServer(Process process) => _process = process;

    /// <summary>The port httpbin was bound to (it asks for any free one and prints which).</summary>
    public int Port { get; private set; }
    public string Address => $"http://127.0.0.1:{Port}";

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>
    /// Starts httpbin on port 0 and returns once it has said which port it was bound to (it listens
    /// before it says so); fails with how to install it when it is missing.
    /// </summary>
    public static async Task<HttpBinServer> StartAsync()
    {
        var python = await FindPythonAsync() ?? throw new InvalidOperationException(
            "httpbin is not installed: these tests need Debian's python3-httpbin (apt-get install -y python3-httpbin).");
        var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        // Flask's app.run() cannot say which port 0 became; werkzeug's server (the one app.run starts) can.
        info.ArgumentList.Add(string.Join('\n',
            "from httpbin import app",
            "from werkzeug.serving import make_server",
            "server = make_server('127.0.0.1', 0, app, threaded=True)",
            "print(f'httpbin listening on port {server.port}', flush=True)",
            "server.serve_forever()"));
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var server = new HttpBinServer(process);
        var listening = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            server.Append(e.Data);
            if (e.Data is { } line && line.StartsWith(ListeningLine, StringComparison.Ordinal))
                listening.TrySetResult(int.Parse(line[ListeningLine.Length..], System.Globalization.CultureInfo.InvariantCulture));
        };
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.Exited += (_, _) =>
        {
            process.WaitForExit();
            listening.TrySetException(new InvalidOperationException($"httpbin exited with {process.ExitCode} during start-up:\n{server.Output}"));
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            server.Port = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
            return server;
        }
        catch (TimeoutException)
        {
            await server.DisposeAsync();
            throw new TimeoutException($"httpbin did not say which port it listens on:\n{server.Output}");
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private const string ListeningLine = "httpbin listening on port ";

    /// <summary>The first Python that can import httpbin: Debian's own first, since a pyenv or venv python3 on the PATH does not see its packages.</summary>
    private static async Task<string?> FindPythonAsync()
    {
        foreach (var candidate in new[] { "/usr/bin/python3", "python3" })
        {
            try
            {
                var info = new ProcessStartInfo(candidate, ["-c", "import httpbin, flask"])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                using var probe = Process.Start(info)!;
                await probe.WaitForExitAsync();
                if (probe.ExitCode == 0)
                    return candidate;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Not on this machine.
            }
        }
        return null;
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
        {
            if (_output.Length > 100_000)
                _output.Remove(0, 50_000);
            _output.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
