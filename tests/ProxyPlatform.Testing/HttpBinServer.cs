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

    private HttpBinServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }
    public string Address => $"http://127.0.0.1:{Port}";

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>Starts httpbin and waits until it answers; fails with how to install it when it is missing.</summary>
    public static async Task<HttpBinServer> StartAsync()
    {
        var python = await FindPythonAsync() ?? throw new InvalidOperationException(
            "httpbin is not installed: these tests need Debian's python3-httpbin (apt-get install -y python3-httpbin).");
        var port = FreePort.Get();
        var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"from httpbin import app; app.run(host='127.0.0.1', port={port}, threaded=True)");
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var server = new HttpBinServer(process, port);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"httpbin exited with {process.ExitCode} during start-up:\n{server.Output}");
            try
            {
                using var response = await http.GetAsync($"{server.Address}/get");
                if (response.IsSuccessStatusCode)
                    return server;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        await server.DisposeAsync();
        throw new TimeoutException($"httpbin did not answer on {server.Address} in time:\n{server.Output}");
    }

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
