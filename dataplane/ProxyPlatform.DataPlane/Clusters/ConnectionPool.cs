using System.Net;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.DataPlane.Clusters;

/// <summary>What a cluster's connection pool is built from: the pool is kept across changes of the cluster until these change.</summary>
public sealed record ConnectionSettings(TimeSpan ConnectTimeout, int MaxPerBackend, TimeSpan IdleTimeout, BackendConnector? Connector = null, BackendTlsSpec? Tls = null)
{
    public static ConnectionSettings From(ClusterSpec spec, BackendConnector? connector = null) => new(
        TimeSpan.FromSeconds(spec.Timeouts?.ConnectSeconds ?? 10),
        spec.Connections?.MaxPerBackend ?? int.MaxValue,
        TimeSpan.FromSeconds(spec.Connections?.IdleSeconds ?? new ConnectionsSpec().IdleSeconds),
        connector,
        spec.Tls);
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
        if (settings.Connector is { } connector)
            handler.ConnectCallback = connector.ConnectAsync;
        if (BackendTls.ClientOptions(settings.Tls) is { } tls)
            handler.SslOptions = tls;
        Invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    /// <summary>How long a replaced pool stays open for the requests and streams still using it.</summary>
    private static readonly TimeSpan RetireAfter = TimeSpan.FromMinutes(5);

    public ConnectionSettings Settings { get; }
    public HttpMessageInvoker Invoker { get; }

    /// <summary>Closes the pool's connections once the requests that started on it have had time to finish.</summary>
    public void Retire() => _ = Task.Delay(RetireAfter).ContinueWith(_ => Invoker.Dispose(), TaskScheduler.Default);
}
