using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ProxyPlatform.Testing;

/// <summary>
/// A real HTTP backend on a loopback port that answers every request with its own name and what
/// it received (method, path, query, Host and the request headers), and counts its requests.
/// <c>?delay=&lt;ms&gt;</c> makes it answer late, for time-outs. Over https it also echoes the server
/// name the client sent (SNI) and the subject of the client certificate it presented.
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
    /// <param name="clientCaPem">With <paramref name="tls"/>: a root that must have issued a client certificate, without which the handshake fails.</param>
    public static async Task<TestBackend> StartAsync(string name, TestCertificate? tls = null, string? clientCaPem = null)
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
            var https = new Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions
            {
                ServerCertificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(tls.LeafPem, tls.KeyPem),
                ServerCertificateChain = chain,
            };
            if (clientCaPem is not null)
            {
                var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
                roots.ImportFromPem(clientCaPem);
                https.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate;
                https.ClientCertificateValidation = (certificate, sent, _) =>
                {
                    using var verified = new System.Security.Cryptography.X509Certificates.X509Chain();
                    verified.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
                    verified.ChainPolicy.CustomTrustStore.AddRange(roots);
                    verified.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
                    if (sent is not null)
                    {
                        foreach (var element in sent.ChainElements)
                            verified.ChainPolicy.ExtraStore.Add(element.Certificate);
                    }
                    return verified.Build(certificate);
                };
            }
            listen.UseHttps(https);
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
                context.Request.QueryString.Value ?? "", context.Request.Host.Value ?? "", headers,
                context.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.ISslStreamFeature>()?.SslStream.TargetHostName,
                context.Connection.ClientCertificate?.Subject));
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
/// <param name="Sni">Over https: the server name the client's ClientHello carried (empty without one).</param>
/// <param name="ClientCertificate">Over https: the subject of the certificate the client presented, if any.</param>
public sealed record BackendEcho(string Backend, string Method, string Path, string Query, string Host, Dictionary<string, string> Headers, string? Sni = null, string? ClientCertificate = null);
