using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace ProxyPlatform.Testing;

/// <summary>
/// Clients of a worker's TLS listener for any host name: they dial the listener's loopback port and
/// send the name as SNI (and as the Host), as a client resolving that name to the worker would. They
/// accept whatever certificate is presented and keep it, so a test can say which one it was.
/// </summary>
public static class TlsClients
{
    /// <summary>
    /// A TLS handshake with <paramref name="serverName"/> as SNI (none when null or an IP literal);
    /// answers the leaf the worker presented and the protocol ALPN chose, or throws
    /// (<see cref="AuthenticationException"/> or <see cref="IOException"/>) when the handshake fails.
    /// </summary>
    public static async Task<(X509Certificate2 Leaf, string Alpn)> HandshakeAsync(string httpsUrl, string? serverName, CancellationToken cancellationToken = default)
    {
        var listener = new Uri(httpsUrl);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, listener.Port, cancellationToken);
        await using var tls = new SslStream(tcp.GetStream());
        X509Certificate2? presented = null;
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName ?? "",
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                presented = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                return true;
            },
        }, cancellationToken);
        return (presented ?? throw new AuthenticationException("The server presented no certificate."), tls.NegotiatedApplicationProtocol.ToString());
    }

    /// <summary>
    /// An <see cref="HttpClient"/> whose every connection goes to <paramref name="httpsUrl"/>'s port, so
    /// <c>https://www.example.test/</c> is that host on the worker; <paramref name="connected"/> counts
    /// the connections it opens, and <paramref name="presented"/> sees each certificate presented.
    /// </summary>
    public static HttpClient Client(string httpsUrl, Version version, Action? connected = null, Action<X509Certificate2>? presented = null)
    {
        var port = new Uri(httpsUrl).Port;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
                connected?.Invoke();
                return new NetworkStream(socket, ownsSocket: true);
            },
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is not null)
                        presented?.Invoke(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
                    return true;
                },
            },
        };
        return new HttpClient(handler)
        {
            DefaultRequestVersion = version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }
}
