using ProxyPlatform.Http;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyPlatform.DataPlane.Acme;
using ProxyPlatform.DataPlane.ConfigStream;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Health;
using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.DataPlane.Ops;
using ProxyPlatform.DataPlane.Forwarding;
using ProxyPlatform.DataPlane.Pipeline;
using ProxyPlatform.DataPlane.Tls;

namespace ProxyPlatform.DataPlane.Hosting;

/// <summary>Wires the worker: one extension per area, so Program.cs reads as a table of contents.</summary>
public static class DataPlaneHost
{
    /// <summary>
    /// A complete worker, not yet started: what Program.cs runs, and what tests start on their own
    /// ports (<c>--Proxy:Url=… --Ops:Url=… --ControlPlane:Url=…</c>).
    /// </summary>
    public static WebApplication Create(string[] args)
    {
        var builder = CreateBuilder(args);
        builder.AddDataPlane();
        var app = builder.Build();
        app.MapDataPlane();
        return app;
    }

    /// <summary>A builder whose content root is the worker's own folder, so its appsettings.json is found wherever it starts.</summary>
    public static WebApplicationBuilder CreateBuilder(string[] args) => WebApplication.CreateBuilder(new WebApplicationOptions
    {
        Args = args,
        ApplicationName = typeof(DataPlaneHost).Assembly.GetName().Name,
        ContentRootPath = AppContext.BaseDirectory,
    });

    /// <summary>How long a client may take over its TLS handshake (Kestrel's default).</summary>
    private static readonly TimeSpan TlsHandshakeTimeout = TimeSpan.FromSeconds(10);

    public static WebApplicationBuilder AddDataPlane(this WebApplicationBuilder builder)
    {
        var options = DataPlaneOptions.From(builder.Configuration);
        var listeners = new WorkerListeners(new ListenerAddress(options.ProxyUrl), new ListenerAddress(options.OpsUrl),
            options.H2cUrl is { } h2cUrl ? new ListenerAddress(h2cUrl) : null,
            options.HttpsUrl is { } httpsUrl ? new ListenerAddress(httpsUrl) : null);
        builder.Services.AddSingleton(options);
        // Seals certificates' private keys in the last-known-good file; none set, they are kept as sent (mode 0600).
        builder.Services.AddSingleton(ProxyPlatform.Secrets.SecretKeyRing.Single(builder.Configuration, "DataPlane:SecretsKey"));
        builder.Services.AddSingleton(listeners);
        builder.Services.AddSingleton(ProxyOptions.From(builder.Configuration, options.WorkerId));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            if (options.MaxRequestBodyBytes is { } limit)
                kestrel.Limits.MaxRequestBodySize = limit;
            // Hostile clients: headers trickled in, too many or too large, bodies sent too slowly
            // (Kestrel's minimum rate, 240 B/s after 5 s, stays) are cut off instead of holding a connection.
            kestrel.Limits.RequestHeadersTimeout = options.RequestHeadersTimeout;
            kestrel.Limits.MaxRequestHeaderCount = options.MaxRequestHeaderCount;
            kestrel.Limits.MaxRequestHeadersTotalSize = options.MaxRequestHeadersBytes;
            listeners.Proxy.Listen(kestrel, HttpProtocols.Http1AndHttp2);
            listeners.Ops.Listen(kestrel, HttpProtocols.Http1);
            if (listeners.H2c is { } h2c)
                h2c.Listen(kestrel, HttpProtocols.Http2);
            if (listeners.Https is { } https)
            {
                // Certificates come from the applied configuration, per connection (SniCertificateSelector).
                var selector = kestrel.ApplicationServices.GetRequiredService<SniCertificateSelector>();
                https.Listen(kestrel, HttpProtocols.Http1AndHttp2, listen => listen.UseHttps(selector.Options(TlsHandshakeTimeout)));
            }
        });
        builder.Services.AddProxyConfiguration();
        builder.Services.AddConfigStream();
        builder.Services.AddHealthProbes();
        builder.AddTrafficMetrics();
        return builder;
    }

    public static WebApplication MapDataPlane(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<DataPlaneOptions>();
        var listeners = app.Services.GetRequiredService<WorkerListeners>();
        // Created now, so /metrics has the traffic instruments from the first scrape.
        app.Services.GetRequiredService<TrafficMeter>();
        app.UseRequestIds();
        // The two listeners share one process: the port a connection arrived on, never the Host
        // header a client controls, decides which one answers: the port it was bound to, which is
        // the configured one unless Ops:Url asked for any free port (0).
        app.MapWhen(context => context.Connection.LocalPort == listeners.Ops.Port, ops =>
        {
            ops.UseRouting();
            ops.UseEndpoints(endpoints => endpoints.MapOpsEndpoints());
        });
        app.UseAcmeChallenges();
        var proxy = app.Services.GetRequiredService<ProxyHandler>();
        app.Run(proxy.InvokeAsync);

        // The URLs as bound: with port 0 in a listener's URL this line is where an operator (or a
        // test) learns the port the operating system chose.
        app.Lifetime.ApplicationStarted.Register(() =>
            app.Logger.LogInformation("Data-plane worker {Worker} (pool {Pool}) ready: proxy {Proxy}{H2c}{Https}, ops {Ops}, control plane {ControlPlane}",
                options.WorkerId, options.Pool, listeners.Proxy.Url, listeners.H2c is { } h2c ? $" and {h2c.Url} (h2c)" : "",
                listeners.Https is { } https ? $" and {https.Url} (TLS)" : "", listeners.Ops.Url, string.Join(", ", options.ControlPlaneUrls)));
        return app;
    }
}
