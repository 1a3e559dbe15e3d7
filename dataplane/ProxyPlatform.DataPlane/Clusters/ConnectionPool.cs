using System.Net;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.DataPlane.Clusters;

/// <summary>What a cluster's connection pool is built from: the pool is kept across changes of the cluster until these change.</summary>
/// <param name="Tenant">The cluster's tenant, whose certificate <see cref="BackendTlsSpec.ClientCertificate"/> names.</param>
public sealed record ConnectionSettings(TimeSpan ConnectTimeout, int MaxPerBackend, TimeSpan IdleTimeout, BackendConnector? Connector = null, BackendTlsSpec? Tls = null, string Tenant = "")
{
    public static ConnectionSettings From(ClusterSpec spec, BackendConnector? connector = null, string tenant = "") => new(
        TimeSpan.FromSeconds(spec.Timeouts?.ConnectSeconds ?? 10),
        spec.Connections?.MaxPerBackend ?? int.MaxValue,
        TimeSpan.FromSeconds(spec.Connections?.IdleSeconds ?? new ConnectionsSpec().IdleSeconds),
        connector,
        spec.Tls,
        tenant);
}

/// <summary>A cluster's connections to its backends: one <see cref="HttpMessageInvoker"/>, shared by its requests.</summary>
public sealed class ConnectionPool
{
    public ConnectionPool(ConnectionSettings settings)
    {
        Settings = settings;
        var handler = new SocketsHttpHandler
        {
            // A proxy forwards what it gets: no proxies of its own, redirects, decompression or cookies.
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
            ConnectTimeout = settings.ConnectTimeout,
            MaxConnectionsPerServer = settings.MaxPerBackend,
            PooledConnectionIdleTimeout = settings.IdleTimeout,
        };
        // With TLS settings the worker makes the handshake itself (BackendTls says why); else .NET does.
        if (settings.Tls is { } tls)
            handler.ConnectCallback = new BackendTls(tls, settings.Tenant, settings.Connector).ConnectAsync;
        else if (settings.Connector is { } connector)
            handler.ConnectCallback = connector.ConnectAsync;
        Invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    /// <summary>How long a replaced pool stays open for the requests and streams still using it.</summary>
    private static readonly TimeSpan RetireAfter = TimeSpan.FromMinutes(5);

    public ConnectionSettings Settings { get; }
    public HttpMessageInvoker Invoker { get; }

    /// <summary>Closes the pool's connections once the requests that started on it have had time to finish.</summary>
    public void Retire() => _ = Task.Delay(RetireAfter).ContinueWith(_ => Invoker.Dispose(), TaskScheduler.Default);
}
