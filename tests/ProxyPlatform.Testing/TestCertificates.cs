using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ProxyPlatform.Testing;

/// <summary>A certificate chain as PEM (leaf first) with the leaf's PEM private key, made by a test.</summary>
public sealed record TestCertificate(string ChainPem, string KeyPem, string LeafPem, string IntermediatePem, string RootPem)
{
    /// <summary>The body of the key's PEM (its base64, one line): what must never appear in an answer, a log or a row.</summary>
    public string KeyBody => string.Concat(KeyPem.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("-----", StringComparison.Ordinal)));
}

/// <summary>
/// Makes real certificates with <see cref="CertificateRequest"/>: a root, an intermediate and a leaf for
/// the given DNS names, ECDSA P-256, valid from an hour ago for <paramref name="validFor"/> unless told otherwise.
/// </summary>
public static class TestCertificates
{
    /// <param name="clientAuth">Also usable as a TLS client certificate (extended key usage clientAuth beside serverAuth).</param>
    public static TestCertificate Issue(IEnumerable<string> names, TimeSpan? validFor = null, DateTimeOffset? notBefore = null, bool rsa = false, bool clientAuth = false)
    {
        var from = notBefore ?? DateTimeOffset.UtcNow.AddHours(-1);
        var until = from + (validFor ?? TimeSpan.FromDays(30));
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var root = Authority("CN=ProxyPlatform Test Root", rootKey, null, null, from.AddDays(-1), until.AddDays(1));
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var intermediate = Authority("CN=ProxyPlatform Test Intermediate", intermediateKey, root, rootKey, from.AddHours(-12), until.AddHours(12));

        using AsymmetricAlgorithm leafKey = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = leafKey is RSA r
            ? new CertificateRequest($"CN={names.First()}", r, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest($"CN={names.First()}", (ECDsa)leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
            san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        var usages = new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") };
        if (clientAuth)
            usages.Add(new Oid("1.3.6.1.5.5.7.3.2"));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, false));
        using var leaf = request.Create(intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(intermediateKey), from, until, RandomNumberGenerator.GetBytes(16));

        var leafPem = leaf.ExportCertificatePem() + "\n";
        var intermediatePem = intermediate.ExportCertificatePem() + "\n";
        return new TestCertificate(leafPem + intermediatePem, leafKey.ExportPkcs8PrivateKeyPem() + "\n", leafPem, intermediatePem, root.ExportCertificatePem() + "\n");
    }

    /// <summary>A CA certificate: self-signed when <paramref name="issuer"/> is null, else signed by it.</summary>
    public static X509Certificate2 Authority(string subject, ECDsa key, X509Certificate2? issuer, ECDsa? issuerKey, DateTimeOffset from, DateTimeOffset until)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return issuer is null
            ? request.CreateSelfSigned(from, until)
            : request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey!), from, until, RandomNumberGenerator.GetBytes(16));
    }
}
