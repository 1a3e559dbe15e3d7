using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ProxyPlatform.Chaos;

/// <summary>
/// A backend in a process of its own (this program started with <c>backend NAME ADDRESS</c>), so that
/// a scenario can kill it or freeze it with SIGSTOP. It answers every request 200 with its name.
/// </summary>
public sealed class BackendProcess : IAsyncDisposable
{
    private readonly Process _process;

    private BackendProcess(string name, Process process, string address)
    {
        Name = name;
        _process = process;
        Address = address;
    }

    public string Name { get; }

    /// <summary>Where workers reach it: <c>http://IP:port</c>.</summary>
    public string Address { get; }

    public static async Task<BackendProcess> StartAsync(string name, string ip)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(typeof(BackendProcess).Assembly.Location);
        info.ArgumentList.Add("backend");
        info.ArgumentList.Add(name);
        info.ArgumentList.Add(ip);
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start a backend.");
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(2))
            ?? throw new InvalidOperationException($"Backend {name} exited during start-up.");
        var port = int.Parse(line.Split(' ')[^1], CultureInfo.InvariantCulture);
        _ = process.StandardOutput.ReadToEndAsync();
        return new BackendProcess(name, process, $"http://{ip}:{port}");
    }

    /// <summary>Kills it (SIGKILL): its port refuses connections from then on.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
            _process.Kill();
    }

    /// <summary>Freezes (SIGSTOP) or thaws (SIGCONT) it: frozen, it accepts connections and answers nothing.</summary>
    public void Freeze(bool freeze) =>
        Process.Start("kill", [freeze ? "-STOP" : "-CONT", _process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();

    /// <summary>The backend's own program: serves until killed.</summary>
    public static async Task ServeAsync(string name, string ip)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse(ip), 0));
        var app = builder.Build();
        app.Run(context => context.Response.WriteAsync(name));
        await app.StartAsync();
        Console.WriteLine($"listening {new Uri(app.Urls.Single()).Port}");
        await app.WaitForShutdownAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Freeze(false);
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
