using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using ProxyPlatform.DataPlane.Configuration;

namespace ProxyPlatform.DataPlane.Tls;

/// <summary>
/// The TLS listener's handshake (<c>Proxy:HttpsUrl</c>): the certificate is chosen per connection from
/// the server name the client sent (SNI), in the configuration served at that moment
/// (<see cref="CertificateIndex"/>), with TLS 1.2 or 1.3 only and, on Linux, AEAD cipher suites with
/// forward secrecy only. ALPN offers h2 and http/1.1 (Kestrel sets them from the listener's protocols).
/// A name without a certificate of its owner, or no name at all, fails the handshake: there is no
/// default certificate that could belong to another tenant.
/// </summary>
public sealed class SniCertificateSelector(ConfigApplier applier, ILogger<SniCertificateSelector> logger)
{
    /// <summary>Mozilla's "intermediate" list, TLS 1.3's suites first: what every current client supports, nothing without forward secrecy or AEAD.</summary>
    private static readonly CipherSuitesPolicy? Ciphers = OperatingSystem.IsLinux()
        ? new CipherSuitesPolicy(
        [
            TlsCipherSuite.TLS_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ])
        : null;

    private long _refused;

    /// <summary>Handshakes refused for want of a certificate for their server name, since the process started.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>What the listener is given: this selector, and how long a client may take over its handshake.</summary>
    public TlsHandshakeCallbackOptions Options(TimeSpan handshakeTimeout) => new()
    {
        OnConnection = context => ValueTask.FromResult(Select(context.ClientHelloInfo.ServerName)),
        HandshakeTimeout = handshakeTimeout,
    };

    /// <summary>The options of one handshake (new each time: Kestrel completes them); throws <see cref="AuthenticationException"/> when the name has no certificate.</summary>
    public SslServerAuthenticationOptions Select(string? serverName)
    {
        var runtime = applier.Runtime;
        if (runtime?.Certificates.Find(serverName, runtime.Routes) is not { } certificate)
        {
            Interlocked.Increment(ref _refused);
            if (logger.IsEnabled(LogLevel.Debug))
                logger.LogDebug("TLS handshake refused: no certificate for server name '{ServerName}'", serverName);
            // Kestrel ends the connection on this exception and logs it at Debug level.
            throw new AuthenticationException(string.IsNullOrEmpty(serverName)
                ? "The client sent no server name (SNI): every certificate belongs to a tenant's host."
                : "No certificate for the server name the client sent.");
        }
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificate.Context,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificateRequired = false,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
        };
        if (OperatingSystem.IsLinux())
            options.CipherSuitesPolicy = Ciphers;
        return options;
    }
}
