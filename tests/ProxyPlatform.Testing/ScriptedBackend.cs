using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace ProxyPlatform.Testing;

/// <summary>
/// A real HTTP backend on a loopback port whose answer the test writes (failing, streaming,
/// WebSocket, HTTP/2-only gRPC, huge bodies), counting the requests it receives. Request bodies
/// have no size limit, and WebSocket upgrades are accepted.
/// </summary>
public sealed class ScriptedBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private ScriptedBackend(string name, WebApplication app)
    {
        Name = name;
        _app = app;
    }

    public string Name { get; }
    /// <summary>The port the backend was bound to (it asks for any free one).</summary>
    public int Port { get; private set; }
    public string Address => $"http://127.0.0.1:{Port}";
    public int Requests => Volatile.Read(ref _requests);

    public static async Task<ScriptedBackend> StartAsync(string name, RequestDelegate handler, HttpProtocols protocols = HttpProtocols.Http1)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = protocols);
        });
        var app = builder.Build();
        app.UseWebSockets();
        ScriptedBackend? backend = null;
        app.Run(context =>
        {
            Interlocked.Increment(ref backend!._requests);
            return handler(context);
        });
        backend = new ScriptedBackend(name, app);
        await app.StartAsync();
        backend.Port = new Uri(app.Urls.Single()).Port;
        return backend;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
