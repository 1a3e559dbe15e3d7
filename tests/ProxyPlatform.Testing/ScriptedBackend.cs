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

    private ScriptedBackend(string name, WebApplication app, int port)
    {
        Name = name;
        _app = app;
        Port = port;
    }

    public string Name { get; }
    public int Port { get; }
    public string Address => $"http://127.0.0.1:{Port}";
    public int Requests => Volatile.Read(ref _requests);

    public static async Task<ScriptedBackend> StartAsync(string name, RequestDelegate handler, HttpProtocols protocols = HttpProtocols.Http1)
    {
        var port = FreePort.Get();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Listen(IPAddress.Loopback, port, listen => listen.Protocols = protocols);
        });
        var app = builder.Build();
        app.UseWebSockets();
        ScriptedBackend? backend = null;
        app.Run(context =>
        {
            Interlocked.Increment(ref backend!._requests);
            return handler(context);
        });
        backend = new ScriptedBackend(name, app, port);
        await app.StartAsync();
        return backend;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
