using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.Testing;

namespace ProxyPlatform.DataPlane.Tests.Infrastructure;

/// <summary>A real worker (the same host Program.cs runs) started in-process on free loopback ports.</summary>
public sealed class InProcessWorker : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InProcessWorker(WebApplication app, int proxyPort, int opsPort)
    {
        _app = app;
        ProxyPort = proxyPort;
        OpsPort = opsPort;
        Proxy = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proxyPort}"), Timeout = TimeSpan.FromSeconds(30) };
        Ops = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{opsPort}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public int ProxyPort { get; }
    public int OpsPort { get; }
    /// <summary>A client of the proxy listener.</summary>
    public HttpClient Proxy { get; }
    /// <summary>A client of the ops listener.</summary>
    public HttpClient Ops { get; }

    /// <summary>A control-plane URL where nothing listens.</summary>
    public static string UnreachableControlPlane() => $"http://127.0.0.1:{FreePort.Get()}";

    public static async Task<InProcessWorker> StartAsync(string dataDir, string controlPlaneUrl, params string[] args)
    {
        var proxyPort = FreePort.Get();
        var opsPort = FreePort.Get();
        var app = DataPlaneHost.Create(
        [
            $"--Proxy:Url=http://127.0.0.1:{proxyPort}",
            $"--Ops:Url=http://127.0.0.1:{opsPort}",
            $"--ControlPlane:Url={controlPlaneUrl}",
            $"--DataPlane:Id=test-{proxyPort}",
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
        return new InProcessWorker(app, proxyPort, opsPort);
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
