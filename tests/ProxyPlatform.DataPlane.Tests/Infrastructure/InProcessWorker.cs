using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.Testing;

namespace ProxyPlatform.DataPlane.Tests.Infrastructure;

/// <summary>
/// A real worker (the same host Program.cs runs) started in-process with its proxy and ops
/// listeners on port 0; it tells the ports it was bound to through <see cref="WorkerListeners"/>.
/// </summary>
public sealed class InProcessWorker : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InProcessWorker(WebApplication app, WorkerListeners listeners)
    {
        _app = app;
        ProxyPort = listeners.Proxy.Port;
        OpsPort = listeners.Ops.Port;
        Proxy = new HttpClient { BaseAddress = new Uri(listeners.Proxy.Url), Timeout = TimeSpan.FromSeconds(30) };
        Ops = new HttpClient { BaseAddress = new Uri(listeners.Ops.Url), Timeout = TimeSpan.FromSeconds(30) };
    }

    public int ProxyPort { get; }
    public int OpsPort { get; }
    /// <summary>A client of the proxy listener.</summary>
    public HttpClient Proxy { get; }
    /// <summary>A client of the ops listener.</summary>
    public HttpClient Ops { get; }

    /// <summary>A control-plane URL where nothing listens: a reserved port that nothing binds.</summary>
    public static string UnreachableControlPlane() => $"http://127.0.0.1:{ReservedPorts.Take()}";

    public static async Task<InProcessWorker> StartAsync(string dataDir, string controlPlaneUrl, params string[] args)
    {
        var app = DataPlaneHost.Create(
        [
            "--Proxy:Url=http://127.0.0.1:0",
            "--Ops:Url=http://127.0.0.1:0",
            "--Proxy:HttpsUrl=https://127.0.0.1:0",
            $"--ControlPlane:Url={controlPlaneUrl}",
            $"--DataPlane:Id=test-{Guid.NewGuid():N}",
            $"--DataPlane:DataDir={dataDir}",
            "--Logging:LogLevel:Default=Error",
            .. args,
        ]);
        try
        {
            await app.StartAsync(TestContext.Current.CancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        return new InProcessWorker(app, app.Services.GetRequiredService<WorkerListeners>());
    }

    public Task<HttpResponseMessage> GetAsync(string host, string path, string? requestId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = host;
        if (requestId is not null)
            request.Headers.Add("X-Request-ID", requestId);
        return Proxy.SendAsync(request, TestContext.Current.CancellationToken);
    }

    /// <summary>What the backend saw of a GET through the worker; fails unless the worker answered 200.</summary>
    public async Task<BackendEcho> EchoAsync(string host, string path)
    {
        using var response = await GetAsync(host, path);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"GET {host}{path} answered {(int)response.StatusCode}: {text}");
        return JsonSerializer.Deserialize<BackendEcho>(text, JsonSerializerOptions.Web)!;
    }

    public async ValueTask DisposeAsync()
    {
        Proxy.Dispose();
        Ops.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
