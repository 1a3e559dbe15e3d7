using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace ProxyPlatform.Configuration;

/// <summary>A certificate chain and key that passed <see cref="CertificateChecks.Check"/>: the bundle to distribute (key in clear) and what an answer shows.</summary>
public sealed record CheckedCertificate(CertificateBundle Bundle, string Subject, string Issuer);

/// <summary>
/// The one judge of a certificate chain and its private key, for the admin API and anyone else who
/// receives one: it parses, is bounded, is ordered leaf first with each certificate signed by the
/// next, is within its validity period, names DNS hosts, and the key is the leaf's. Messages name
/// the field, never quote a key.
/// </summary>
public static class CertificateChecks
{
    private const string SealedPrefix = "pp-sealed:";

    /// <summary>Checks the PEM chain and key; on success <paramref name="result"/> carries the bundle with the key re-encoded as PKCS#8 PEM.</summary>
    public static IReadOnlyList<FieldError> Check(string? chainPem, string? keyPem, DateTimeOffset now, out CheckedCertificate? result)
    {
        result = null;
        var errors = new List<FieldError>();
        if (string.IsNullOrWhiteSpace(chainPem))
            errors.Add(new FieldError("certificate", "a PEM certificate chain is required (leaf first), or \"acme\" instead."));
        else if (Encoding.UTF8.GetByteCount(chainPem) > CertificateLimits.MaxPemBytes)
            errors.Add(new FieldError("certificate", $"the chain is larger than {CertificateLimits.MaxPemBytes} bytes."));
        if (string.IsNullOrWhiteSpace(keyPem))
            errors.Add(new FieldError("privateKey", "the leaf certificate's PEM private key is required."));
        else if (Encoding.UTF8.GetByteCount(keyPem) > CertificateLimits.MaxPemBytes)
            errors.Add(new FieldError("privateKey", $"the key is larger than {CertificateLimits.MaxPemBytes} bytes."));
        if (errors.Count > 0)
            return errors;

        var chain = ReadChain(chainPem!, errors);
        if (errors.Count > 0)
            return errors;
        try
        {
            var leaf = chain[0];
            for (var i = 0; i < chain.Count; i++)
            {
                if (chain[i].NotAfter.ToUniversalTime() <= now.UtcDateTime)
                    errors.Add(new FieldError($"certificate[{i}]", $"expired on {chain[i].NotAfter.ToUniversalTime():u}."));
                else if (chain[i].NotBefore.ToUniversalTime() > now.UtcDateTime)
                    errors.Add(new FieldError($"certificate[{i}]", $"is not valid before {chain[i].NotBefore.ToUniversalTime():u}."));
            }
            for (var i = 0; i + 1 < chain.Count; i++)
            {
                if (!IssuedBy(chain[i], chain[i + 1]))
                    errors.Add(new FieldError($"certificate[{i}]", $"is not signed by certificate[{i + 1}] ({chain[i + 1].Subject}): put the leaf first, then each certificate's issuer."));
            }
            var names = Names(leaf);
            if (names.Count == 0)
                errors.Add(new FieldError("certificate[0]", "the leaf certificate names no DNS host in its subjectAltName."));
            var key = MatchingKey(leaf, keyPem!, errors);
            if (errors.Count > 0 || key is null)
                return errors;
            result = new CheckedCertificate(new CertificateBundle
            {
                Names = names,
                Chain = string.Concat(chain.Select(c => c.ExportCertificatePem() + "\n")),
                PrivateKey = key,
                NotBefore = leaf.NotBefore.ToUniversalTime(),
                NotAfter = leaf.NotAfter.ToUniversalTime(),
                Fingerprint = Convert.ToHexStringLower(SHA256.HashData(leaf.RawData)),
            }, leaf.Subject, leaf.Issuer);
            return errors;
        }
        finally
        {
            foreach (var certificate in chain)
                certificate.Dispose();
        }
    }

    /// <summary>The subject and issuer of a bundle's leaf, for answers (the bundle keeps neither).</summary>
    public static (string Subject, string Issuer) Describe(CertificateBundle bundle)
    {
        using var leaf = X509Certificate2.CreateFromPem(bundle.Chain);
        return (leaf.Subject, leaf.Issuer);
    }

    /// <summary>True when a bundle's private key is sealed (the control plane's rows), not PEM.</summary>
    public static bool IsSealed(string privateKey) => privateKey.StartsWith(SealedPrefix, StringComparison.Ordinal);

    /// <summary>The leaf's DNS names (subjectAltName), normalized, each once.</summary>
    public static IReadOnlyList<string> Names(X509Certificate2 leaf) =>
        [.. leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(e => e.EnumerateDnsNames())
            .Select(HostNames.Normalize)
            .Distinct(StringComparer.Ordinal)];

    private static List<X509Certificate2> ReadChain(string pem, List<FieldError> errors)
    {
        var chain = new List<X509Certificate2>();
        var rest = pem.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            var label = rest[fields.Label];
            if (!label.SequenceEqual("CERTIFICATE"))
            {
                errors.Add(new FieldError($"certificate[{chain.Count}]", $"a PEM block of type '{label}' where a CERTIFICATE was expected."));
                break;
            }
            if (chain.Count == CertificateLimits.MaxChainCertificates)
            {
                errors.Add(new FieldError("certificate", $"the chain has more than {CertificateLimits.MaxChainCertificates} certificates."));
                break;
            }
            try
            {
                var der = Convert.FromBase64String(rest[fields.Base64Data].ToString());
                chain.Add(X509CertificateLoader.LoadCertificate(der));
            }
            catch (Exception ex) when (ex is CryptographicException or FormatException)
            {
                errors.Add(new FieldError($"certificate[{chain.Count}]", "is not a readable X.509 certificate."));
                break;
            }
            rest = rest[fields.Location.End..];
        }
        if (chain.Count == 0 && errors.Count == 0)
            errors.Add(new FieldError("certificate", "holds no PEM CERTIFICATE block."));
        if (errors.Count > 0)
        {
            foreach (var certificate in chain)
                certificate.Dispose();
            chain.Clear();
        }
        return chain;
    }

    /// <summary>The key as PKCS#8 PEM when it is a readable RSA or EC key and the leaf's; otherwise null with an error.</summary>
    private static string? MatchingKey(X509Certificate2 leaf, string keyPem, List<FieldError> errors)
    {
        using var rsaPublic = leaf.GetRSAPublicKey();
        using var ecPublic = rsaPublic is null ? leaf.GetECDsaPublicKey() : null;
        if (rsaPublic is null && ecPublic is null)
        {
            errors.Add(new FieldError("certificate[0]", "the leaf's key is neither RSA nor ECDSA."));
            return null;
        }
        using AsymmetricAlgorithm key = rsaPublic is not null ? RSA.Create() : ECDsa.Create();
        try
        {
            key.ImportFromPem(keyPem);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            errors.Add(new FieldError("privateKey", $"is not a PEM private key of the leaf's type ({(rsaPublic is not null ? "RSA" : "EC")}; PKCS#8, PKCS#1 or SEC1)."));
            return null;
        }
        try
        {
            using var paired = key is RSA rsa ? leaf.CopyWithPrivateKey(rsa) : leaf.CopyWithPrivateKey((ECDsa)key);
            return key.ExportPkcs8PrivateKeyPem();
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            errors.Add(new FieldError("privateKey", "does not match the leaf certificate's public key."));
            return null;
        }
    }

    /// <summary>
    /// True when <paramref name="issuer"/> signed <paramref name="subject"/>: its name is the subject's
    /// issuer and its key verifies the subject's signature (RSA PKCS#1 v1.5 or ECDSA, SHA-256/384/512).
    /// A signature algorithm outside these is judged by the names alone.
    /// </summary>
    public static bool IssuedBy(X509Certificate2 subject, X509Certificate2 issuer)
    {
        if (!subject.IssuerName.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData))
            return false;
        ReadOnlyMemory<byte> tbs;
        string algorithm;
        byte[] signature;
        try
        {
            var certificate = new AsnReader(subject.RawData, AsnEncodingRules.DER).ReadSequence();
            tbs = certificate.ReadEncodedValue();
            algorithm = certificate.ReadSequence().ReadObjectIdentifier();
            signature = certificate.ReadBitString(out _);
        }
        catch (AsnContentException)
        {
            return false;
        }
        var (hash, rsa) = algorithm switch
        {
            "1.2.840.113549.1.1.11" => (HashAlgorithmName.SHA256, true),
            "1.2.840.113549.1.1.12" => (HashAlgorithmName.SHA384, true),
            "1.2.840.113549.1.1.13" => (HashAlgorithmName.SHA512, true),
            "1.2.840.10045.4.3.2" => (HashAlgorithmName.SHA256, false),
            "1.2.840.10045.4.3.3" => (HashAlgorithmName.SHA384, false),
            "1.2.840.10045.4.3.4" => (HashAlgorithmName.SHA512, false),
            _ => (default(HashAlgorithmName), false),
        };
        if (hash == default)
            return true;
        try
        {
            if (rsa)
            {
                using var key = issuer.GetRSAPublicKey();
                return key is not null && key.VerifyData(tbs.Span, signature, hash, RSASignaturePadding.Pkcs1);
            }
            using var ec = issuer.GetECDsaPublicKey();
            return ec is not null && ec.VerifyData(tbs.Span, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
