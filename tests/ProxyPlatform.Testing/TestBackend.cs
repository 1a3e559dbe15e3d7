using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ProxyPlatform.Testing;

/// <summary>
/// A real HTTP backend on a loopback port that answers every request with its own name and what
/// it received (method, path, query, Host and the request headers), and counts its requests.
/// <c>?delay=&lt;ms&gt;</c> makes it answer late, for time-outs.
/// </summary>
public sealed class TestBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private TestBackend(string name, WebApplication app)
    {
        Name = name;
        _app = app;
    }

    public string Name { get; }
    /// <summary>The port the backend was bound to (it asks for any free one).</summary>
    public int Port { get; private set; }
    /// <summary>The backend's address: <c>http://127.0.0.1:port</c>, or <c>https://</c> when started with a certificate.</summary>
    public string Address => $"{(_https ? "https" : "http")}://127.0.0.1:{Port}";
    private bool _https;
    public int Requests => Volatile.Read(ref _requests);

    /// <param name="tls">A certificate (and its chain) to serve https with instead of http.</param>
    public static async Task<TestBackend> StartAsync(string name, TestCertificate? tls = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (tls is null)
                return;
            var chain = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
            chain.ImportFromPem(tls.IntermediatePem);
            listen.UseHttps(new Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions
            {
                ServerCertificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(tls.LeafPem, tls.KeyPem),
                ServerCertificateChain = chain,
            });
        }));
        var app = builder.Build();
        TestBackend? backend = null;
        app.Run(async context =>
        {
            Interlocked.Increment(ref backend!._requests);
            if (int.TryParse(context.Request.Query["delay"], out var delay))
                await Task.Delay(delay, context.RequestAborted);
            var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
            await context.Response.WriteAsJsonAsync(new BackendEcho(name, context.Request.Method, context.Request.Path.Value ?? "",
                context.Request.QueryString.Value ?? "", context.Request.Host.Value ?? "", headers));
        });
        backend = new TestBackend(name, app) { _https = tls is not null };
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

/// <summary>What a <see cref="TestBackend"/> saw of a request.</summary>
public sealed record BackendEcho(string Backend, string Method, string Path, string Query, string Host, Dictionary<string, string> Headers);
