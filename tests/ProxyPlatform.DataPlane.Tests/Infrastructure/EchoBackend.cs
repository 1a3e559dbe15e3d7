using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ProxyPlatform.Testing;

namespace ProxyPlatform.DataPlane.Tests.Infrastructure;

/// <summary>A real Kestrel backend on a loopback port that answers with what it received (after <c>?delay=</c> milliseconds).</summary>
public sealed class EchoBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EchoBackend(WebApplication app, int port)
    {
        _app = app;
        Address = $"http://127.0.0.1:{port}";
    }

    public string Address { get; }

    public static async Task<EchoBackend> StartAsync()
    {
        var port = FreePort.Get();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        app.Run(async context =>
        {
            // ?delay=<ms> answers late, for time-outs.
            if (int.TryParse(context.Request.Query["delay"], out var delay))
                await Task.Delay(delay, context.RequestAborted);
            await context.Response.WriteAsJsonAsync(new Echo(
                context.Request.Path.Value ?? "",
                context.Request.QueryString.Value ?? "",
                context.Request.Host.Value ?? "",
                context.Request.Headers["X-Request-ID"].ToString()));
        });
        await app.StartAsync();
        return new EchoBackend(app, port);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>What an <see cref="EchoBackend"/> saw of a request.</summary>
public sealed record Echo(string Path, string Query, string Host, string RequestId);
