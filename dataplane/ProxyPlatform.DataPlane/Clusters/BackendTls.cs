using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using ProxyPlatform.Configuration;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Clusters;

/// <summary>
/// TLS to a cluster's <c>https://</c> backends under its <see cref="BackendTlsSpec"/>, for the forwarder and
/// the health prober alike: the worker makes the handshake itself, in the connection's
/// <see cref="SocketsHttpHandler.ConnectCallback"/>, because <see cref="SocketsHttpHandler"/> would send the
/// request's Host as SNI whatever <see cref="SslClientAuthenticationOptions.TargetHost"/> says (an
/// <see cref="SslStream"/> the callback returns is used as it is). So the ClientHello carries
/// <c>serverName</c> when set (else the Host .NET would send: the address's host, or the one a route
/// preserves), the cluster's <c>clientCertificate</c> is presented to a backend that asks for one, and the
/// backend's certificate is verified: without settings as .NET does, with a CA as the only root, with a server
/// name for that name instead of the address's host, with <c>insecureSkipVerify</c> not at all. A refusal or a
/// failed handshake is thrown as <see cref="AuthenticationException"/> with the reason, which the proxy passes
/// on in its 502 <c>backend-tls</c> problem and the prober in its reason.
/// </summary>
public sealed class BackendTls
{
    private readonly BackendTlsSpec _spec;
    private readonly string _tenant;
    private readonly BackendConnector? _connector;
    private readonly X509Certificate2Collection? _roots;

    /// <param name="spec">The cluster's settings.</param>
    /// <param name="tenant">The cluster's tenant: its <c>clientCertificate</c> is one of this tenant's certificates.</param>
    /// <param name="connector">Opens the TCP connection (bind address, allowed networks); null: a plain socket.</param>
    public BackendTls(BackendTlsSpec spec, string tenant, BackendConnector? connector)
    {
        _spec = spec;
        _tenant = tenant;
        _connector = connector;
        if (spec.CaPem is { } pem && !spec.InsecureSkipVerify)
        {
            _roots = [];
            _roots.ImportFromPem(pem);
        }
    }

    /// <summary>A <see cref="SocketsHttpHandler.ConnectCallback"/>: the connection, and over https the TLS session on it.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var transport = _connector is not null
            ? await _connector.ConnectAsync(context.DnsEndPoint, cancellationToken)
            : await BackendConnector.ConnectDirectAsync(context.DnsEndPoint, cancellationToken);
        var request = context.InitialRequestMessage;
        if (request.RequestUri?.Scheme != Uri.UriSchemeHttps)
            return transport;
        var tls = new BackendSslStream(transport, _spec.ClientCertificate);
        try
        {
            await tls.AuthenticateAsClientAsync(Options(request, context.DnsEndPoint), cancellationToken);
            return tls;
        }
        catch (Exception ex) when (ex is not AuthenticationException and not OperationCanceledException)
        {
            await tls.DisposeAsync();
            // The handshake is the worker's own: whatever broke it (an alert for a missing client certificate,
            // a connection closed mid-handshake) is a TLS failure, and says so.
            throw new AuthenticationException($"The TLS handshake with the backend failed: {ex.Message}", ex);
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
    }

    /// <summary>The handshake's options for the connection that <paramref name="request"/> opens.</summary>
    private SslClientAuthenticationOptions Options(HttpRequestMessage request, DnsEndPoint endpoint)
    {
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = _spec.ServerName ?? HostOf(request) ?? endpoint.Host.Trim('[', ']'),
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            // As SocketsHttpHandler offers them: h2 only when the request may use it, since the pool that asked
            // for this connection speaks what ALPN chose.
            ApplicationProtocols = Protocols(request),
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        if (_spec.ClientCertificate is { } id)
        {
            var certificate = _connector?.ClientCertificates.ById.GetValueOrDefault(ResourceKey.OfCertificate(_tenant, id))
                ?? throw new AuthenticationException($"The cluster's tls.clientCertificate '{id}' is not loaded on this worker (absent, or rejected when applied), so no connection is made without it.");
            options.ClientCertificateContext = certificate.Context;
        }
        var serverName = _spec.ServerName;
        options.RemoteCertificateValidationCallback = _spec.InsecureSkipVerify
            ? static (_, _, _, _) => true
            : (_, presented, chain, errors) => Verify(presented, chain, errors, _roots, serverName);
        return options;
    }

    private static List<SslApplicationProtocol> Protocols(HttpRequestMessage request)
    {
        var h2 = (request.Version.Major >= 2 && request.VersionPolicy != HttpVersionPolicy.RequestVersionOrLower)
            || request.VersionPolicy == HttpVersionPolicy.RequestVersionOrHigher;
        if (!h2)
            return [SslApplicationProtocol.Http11];
        return request.Version.Major == 2 && request.VersionPolicy == HttpVersionPolicy.RequestVersionExact
            ? [SslApplicationProtocol.Http2]
            : [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];
    }

    /// <summary>The host of the request's Host header (a route that preserves it), as .NET would send it as SNI.</summary>
    private static string? HostOf(HttpRequestMessage request)
    {
        if (request.Headers.Host is not { Length: > 0 } host)
            return null;
        if (host.StartsWith('['))
            return host[1..Math.Max(1, host.IndexOf(']', StringComparison.Ordinal))];
        var colon = host.LastIndexOf(':');
        return colon > 0 ? host[..colon] : host;
    }

    private static bool Verify(X509Certificate? presented, X509Chain? sent, SslPolicyErrors errors, X509Certificate2Collection? roots, string? serverName)
    {
        if (presented is not X509Certificate2 certificate || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            throw new AuthenticationException("The backend presented no certificate.");
        if (roots is null)
        {
            if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
                throw new AuthenticationException($"The backend's certificate does not chain to a trusted root: {Describe(sent)}.");
        }
        else
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            // The intermediates the backend sent.
            if (sent is not null)
            {
                foreach (var element in sent.ChainElements)
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
            if (!chain.Build(certificate))
                throw new AuthenticationException($"The backend's certificate ({certificate.Subject}) is not issued by the cluster's tls.caPem: {Describe(chain)}.");
        }
        if (serverName is null)
        {
            if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
                throw new AuthenticationException($"The backend's certificate ({certificate.Subject}) does not name the backend's host.");
        }
        else if (!certificate.MatchesHostname(serverName))
            throw new AuthenticationException($"The backend's certificate ({certificate.Subject}) does not name '{serverName}' (the cluster's tls.serverName).");
        return true;
    }

    private static string Describe(X509Chain? chain) =>
        chain is null || chain.ChainStatus.Length == 0 ? "no chain" : string.Join(", ", chain.ChainStatus.Select(s => s.Status).Distinct());
}

/// <summary>
/// The TLS session with a backend. Under TLS 1.3 a server judges the client's certificate after the client's
/// handshake is over, and one that refuses it (a certificate it requires and did not get, or does not trust)
/// closes the session before sending anything. So over TLS 1.3 a session that ends, or fails, before its first
/// byte is reported as a TLS failure (<see cref="AuthenticationException"/>, under the <see cref="IOException"/>
/// a read throws) that says which client certificate was presented, rather than as a broken connection.
/// </summary>
internal sealed class BackendSslStream(Stream transport, string? clientCertificate) : SslStream(transport, leaveInnerStreamOpen: false)
{
    private volatile bool _received;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read;
        try
        {
            read = await base.ReadAsync(buffer, cancellationToken);
        }
        catch (IOException ex) when (RefusedBeforeAnswering(ex))
        {
            throw new IOException(ex.Message, Refused(ex.InnerException?.Message ?? ex.Message));
        }
        if (read == 0 && buffer.Length > 0 && RefusedBeforeAnswering(null))
            throw new IOException("The backend closed the connection before answering.", Refused("it closed the session"));
        _received = true;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // A reset socket is a connection failure, whatever the TLS version.
    private bool RefusedBeforeAnswering(IOException? failure) =>
        !_received && SslProtocol == SslProtocols.Tls13 && failure?.InnerException is not SocketException;

    private AuthenticationException Refused(string what) => new(clientCertificate is null
        ? $"The backend ended the TLS session before answering ({what}), as a server does that requires a client certificate: the cluster presents none (tls.clientCertificate)."
        : $"The backend ended the TLS session before answering ({what}), as a server does that refuses the client certificate presented (the cluster's tls.clientCertificate '{clientCertificate}').");
}
