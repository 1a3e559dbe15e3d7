using System.Text.Json;
using ProxyPlatform.Configuration;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Resources;
using ProxyPlatform.Secrets;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>
/// The certificates' private keys in the last-known-good file: sealed with <c>DataPlane:SecretsKey</c>
/// (AES-256-GCM, <see cref="SecretKeyRing"/>, the certificate's identity as associated data) as records
/// are written, opened as they are read. Without a key they are written as the stream carried them, in
/// a file only the worker's user can read.
/// </summary>
/// <remarks>
/// A key that does not open (the setting was removed or changed) leaves the sealed value in place: the
/// compiler then rejects that certificate alone (<see cref="Tls.ServedCertificate.Compile"/>), the rest
/// of the file is served, and the control plane's next snapshot brings the key again.
/// </remarks>
public sealed class LastKnownGoodSecrets(SecretKeyRing? ring, ILogger logger)
{
    /// <summary><paramref name="update"/> with every certificate's private key sealed; itself when there is no key or no certificate.</summary>
    public ConfigUpdate Seal(ConfigUpdate update)
    {
        if (ring is not { CanSeal: true } || !update.Upserts.Any(IsCertificate))
            return update;
        var sealedUpdate = update.Clone();
        foreach (var resource in sealedUpdate.Upserts)
        {
            if (!IsCertificate(resource) || Read(resource) is not { } bundle || CertificateChecks.IsSealed(bundle.PrivateKey) || bundle.PrivateKey.Length == 0)
                continue;
            Write(resource, bundle with { PrivateKey = ring.Seal(bundle.PrivateKey, Purpose(resource)) });
        }
        return sealedUpdate;
    }

    /// <summary>The records with every sealed private key opened where the key opens it; each one that does not is logged, and left sealed.</summary>
    public IReadOnlyList<ConfigUpdate> Open(IReadOnlyList<ConfigUpdate> records, string path)
    {
        foreach (var resource in records.SelectMany(r => r.Upserts))
        {
            if (!IsCertificate(resource) || Read(resource) is not { } bundle || !CertificateChecks.IsSealed(bundle.PrivateKey))
                continue;
            string? problem = "DataPlane:SecretsKey is not set";
            if (ring is not null && ring.TryOpen(bundle.PrivateKey, Purpose(resource), out var key, out problem))
                Write(resource, bundle with { PrivateKey = key });
            else
                logger.LogWarning("The private key of {Certificate} in {Path} stays sealed ({Problem}): that certificate is not served until the control plane sends it again. Check DataPlane:SecretsKey.",
                    $"{resource.Key.Tenant}/{resource.Key.Id}", path, problem);
        }
        return records;
    }

    private static bool IsCertificate(Resource resource) => resource.Key?.Kind == ResourceType.Certificate;

    private static string Purpose(Resource resource) => $"certificate:{resource.Key.Tenant}/{resource.Key.Id}";

    /// <summary>The bundle, or null when the JSON is not one (the compiler rejects it later, by name).</summary>
    private static CertificateBundle? Read(Resource resource)
    {
        try
        {
            return JsonSerializer.Deserialize<CertificateBundle>(resource.SpecJson.Span, ConfigJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void Write(Resource resource, CertificateBundle bundle) =>
        resource.SpecJson = Google.Protobuf.ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(bundle, ConfigJson.Options));
}
