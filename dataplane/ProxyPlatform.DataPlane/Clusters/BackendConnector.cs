using System.Net;
using System.Net.Sockets;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.DataPlane.Clusters;

/// <summary>
/// How the worker opens connections to backends, for the forwarder and the health prober alike: from
/// <c>Proxy:OutboundBindAddress</c> when set (as nginx's <c>proxy_bind</c>), and only to addresses in
/// the pool's <c>limits.allowedBackendNetworks</c> when set. A backend named by host name is resolved
/// here, at connect time, and an address outside the allow-list is never dialled: the control plane
/// can check an address, but only the worker sees what a name resolves to.
/// </summary>
public sealed class BackendConnector(IPAddress? bindAddress)
{
    private volatile IReadOnlyList<string>? _allowed;

    public IPAddress? BindAddress { get; } = bindAddress;

    /// <summary>The networks backends may be addressed in; null allows any address.</summary>
    public IReadOnlyList<string>? AllowedNetworks
    {
        get => _allowed;
        set => _allowed = value;
    }

    /// <summary>
    /// The certificates of the configuration being served, from which a cluster's <c>tls.clientCertificate</c>
    /// is presented to its backends: a connection opened after a certificate changed presents the new one.
    /// </summary>
    public Tls.CertificateIndex ClientCertificates
    {
        get => _certificates;
        set => _certificates = value;
    }

    private volatile Tls.CertificateIndex _certificates = Tls.CertificateIndex.Empty;

    /// <summary>A connection to <paramref name="endpoint"/> from any local address, to any of its addresses.</summary>
    public static async ValueTask<Stream> ConnectDirectAsync(DnsEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A <see cref="SocketsHttpHandler.ConnectCallback"/>.</summary>
    public ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        ConnectAsync(context.DnsEndPoint, cancellationToken);

    /// <exception cref="BackendNotAllowedException">Every address of the endpoint lies outside the allowed networks.</exception>
    public async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, CancellationToken cancellationToken)
    {
        var allowed = _allowed;
        var socket = BindAddress is { } local
            ? new Socket(local.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (BindAddress is { } from)
                socket.Bind(new IPEndPoint(from, 0));
            if (allowed is null)
            {
                await socket.ConnectAsync(endpoint, cancellationToken);
            }
            else
            {
                var dualMode = socket.AddressFamily == AddressFamily.InterNetworkV6 && socket.DualMode;
                var addresses = await AllowedAddressesAsync(endpoint.Host, allowed, socket.AddressFamily, dualMode, cancellationToken);
                await socket.ConnectAsync(addresses, endpoint.Port, cancellationToken);
            }
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The addresses of <paramref name="host"/> inside <paramref name="allowed"/> that a socket of the family can reach.</summary>
    public static async Task<IPAddress[]> AllowedAddressesAsync(string host, IReadOnlyList<string> allowed, AddressFamily family, bool dualMode, CancellationToken cancellationToken)
    {
        var name = host.Trim('[', ']');
        var resolved = IPAddress.TryParse(name, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(name, cancellationToken);
        var usable = resolved.Where(a => a.AddressFamily == family || (dualMode && a.AddressFamily == AddressFamily.InterNetwork)).ToArray();
        var inside = usable.Where(a => PoolLimitsCheck.Allows(allowed, a)).ToArray();
        if (inside.Length == 0)
            throw new BackendNotAllowedException(host, resolved, allowed);
        return inside;
    }
}

/// <summary>A backend whose every address lies outside the pool's <c>limits.allowedBackendNetworks</c>: the worker does not connect.</summary>
public sealed class BackendNotAllowedException(string host, IReadOnlyList<IPAddress> addresses, IReadOnlyList<string> allowed)
    : IOException($"Backend host '{host}' resolves to {(addresses.Count == 0 ? "no address" : string.Join(", ", addresses))}, outside the networks the pool's backends may address ({string.Join(", ", allowed)}).");
