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

    /// <summary>
    /// An HTTP/2-only backend that answers a gRPC call by echoing its message, with <c>grpc-status: 0</c>
    /// and <c>grpc-message: echoed</c> in the trailers; anything else gets 415.
    /// </summary>
    public static Task<ScriptedBackend> StartGrpcEchoAsync(string name) => StartAsync(name, async context =>
    {
        if (context.Request.Protocol != "HTTP/2" || context.Request.ContentType != "application/grpc")
        {
            context.Response.StatusCode = 415;
            return;
        }
        using var message = new MemoryStream();
        await context.Request.Body.CopyToAsync(message);
        context.Response.ContentType = "application/grpc";
        await context.Response.Body.WriteAsync(message.ToArray());
        context.Response.AppendTrailer("grpc-status", "0");
        context.Response.AppendTrailer("grpc-message", "echoed");
    }, HttpProtocols.Http2);

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
