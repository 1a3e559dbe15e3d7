using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ProxyPlatform.Configuration;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Tls;

/// <summary>
/// A tenant's certificate as the TLS listener presents it: the leaf with its private key and the
/// intermediates sent with it (<see cref="SslStreamCertificateContext"/>), compiled once per version of
/// the certificate, so a handshake only looks it up.
/// </summary>
public sealed class ServedCertificate
{
    public required ResourceKey Id { get; init; }
    /// <summary>The revision of the version compiled: a full snapshot recompiles only certificates whose revision changed.</summary>
    public required long Revision { get; init; }
    /// <summary>The DNS names the leaf itself carries (its SANs), normalized: what it is indexed by, whatever the bundle claims.</summary>
    public required IReadOnlyList<string> Names { get; init; }
    public required DateTimeOffset NotAfter { get; init; }
    /// <summary>SHA-256 of the leaf's DER, lower-case hex, as the admin API shows it.</summary>
    public required string Fingerprint { get; init; }
    public required SslStreamCertificateContext Context { get; init; }

    /// <summary>
    /// Compiles <paramref name="bundle"/>, the version of <paramref name="revision"/>: its chain's first certificate with the private key, the rest
    /// as intermediates. Throws (<see cref="CryptographicException"/>, <see cref="InvalidDataException"/>)
    /// when the bundle cannot be served; the compiler then rejects that certificate alone.
    /// </summary>
    public static ServedCertificate Compile(ResourceKey id, long revision, CertificateBundle bundle)
    {
        if (string.IsNullOrWhiteSpace(bundle.PrivateKey))
            throw new InvalidDataException("it carries no private key.");
        if (CertificateChecks.IsSealed(bundle.PrivateKey))
            throw new InvalidDataException("its private key is sealed, not PEM: the control plane sends keys opened.");
        if (bundle.Chain.Length > CertificateLimits.MaxPemBytes || bundle.PrivateKey.Length > CertificateLimits.MaxPemBytes)
            throw new InvalidDataException("its chain or key is larger than a certificate may be.");

        var chain = new X509Certificate2Collection();
        chain.ImportFromPem(bundle.Chain);
        if (chain.Count == 0)
            throw new InvalidDataException("its chain holds no PEM CERTIFICATE block.");
        if (chain.Count > CertificateLimits.MaxChainCertificates)
            throw new InvalidDataException($"its chain has more than {CertificateLimits.MaxChainCertificates} certificates.");
        // Throws when the key is not the leaf's.
        var leaf = X509Certificate2.CreateFromPem(bundle.Chain, bundle.PrivateKey);
        if (OperatingSystem.IsWindows())
        {
            // SChannel cannot use an ephemeral key: give the leaf a key it can, through PKCS#12.
            using var ephemeral = leaf;
            leaf = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        }
        var names = CertificateChecks.Names(leaf);
        if (names.Count == 0)
            throw new InvalidDataException("the leaf names no DNS host in its subjectAltName.");
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++)
            intermediates.Add(chain[i]);
        chain[0].Dispose();
        return new ServedCertificate
        {
            Id = id,
            Revision = revision,
            Names = names,
            NotAfter = leaf.NotAfter.ToUniversalTime(),
            Fingerprint = Convert.ToHexStringLower(SHA256.HashData(leaf.RawData)),
            // Offline: the chain is what the tenant gave; nothing is fetched while compiling.
            Context = SslStreamCertificateContext.Create(leaf, intermediates, offline: true),
        };
    }
}
