using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ProxyPlatform.Bench.Throughput;

/// <summary>
/// A process the throughput benchmark starts besides the platform (nginx, HAProxy, the bare YARP
/// app), with the tail of its output kept for error messages, and killed with its children
/// (nginx's worker) when disposed.
/// </summary>
public sealed class PeerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private PeerProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }
    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    public static PeerProcess Start(string name, string fileName, params string[] args)
    {
        var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        var peer = new PeerProcess(name, new Process { StartInfo = info });
        peer._process.OutputDataReceived += (_, e) => peer.Append(e.Data);
        peer._process.ErrorDataReceived += (_, e) => peer.Append(e.Data);
        peer._process.Start();
        peer._process.BeginOutputReadLine();
        peer._process.BeginErrorReadLine();
        return peer;
    }

    /// <summary>Waits until a GET of <paramref name="url"/> (with the benchmark's Host header) answers 200.</summary>
    public async Task WaitUntilServingAsync(Uri url, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode} during start-up:\n{Output}");
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.Host = ThroughputBenchmark.Host;
                using var response = await http.SendAsync(request, cancellationToken);
                if (response.IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
            await Task.Delay(100, cancellationToken);
        }
        throw new TimeoutException($"{Name} did not answer {url} in time:\n{Output}");
    }

    /// <summary>The first line a tool prints about its version (<c>nginx -v</c>, <c>haproxy -v</c>), or "?".</summary>
    public static string Version(string fileName, string flag)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(fileName, flag) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var text = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            return text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "?";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "?";
        }
    }

    /// <summary>
    /// CPU time (user + system) a process and its children have used so far, from /proc; what a
    /// request costs a proxy on cores shared with the load tool and the backends.
    /// </summary>
    public static TimeSpan CpuTime(int pid)
    {
        var ticks = 0L;
        foreach (var id in WithDescendants(pid))
        {
            string stat;
            try
            {
                stat = File.ReadAllText($"/proc/{id}/stat");
            }
            catch (IOException)
            {
                continue;
            }
            // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
        // USER_HZ is 100 on every Linux build that matters here.
        return TimeSpan.FromMilliseconds(ticks * 10);
    }

    private static IEnumerable<int> WithDescendants(int pid)
    {
        yield return pid;
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (IOException)
        {
            yield break;
        }
        foreach (var task in tasks)
        {
            string children;
            try
            {
                children = File.ReadAllText(Path.Combine(task, "children"));
            }
            catch (IOException)
            {
                continue;
            }
            foreach (var child in children.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                foreach (var id in WithDescendants(int.Parse(child, CultureInfo.InvariantCulture)))
                    yield return id;
            }
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
}
