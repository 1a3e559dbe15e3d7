using ProxyPlatform.Configuration;
using ProxyPlatform.Secrets;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Certificates;

/// <summary>
/// Where a certificate's private key changes form: sealed into the committed row (<see cref="ToRow"/>),
/// opened only when the resource is rendered for the workers' stream (<see cref="ToWire"/>). Nothing
/// else in the control plane sees the key in clear, and nothing here logs it.
/// </summary>
public sealed class CertificateSecrets(SecretKeyRing keys, ILogger<CertificateSecrets> logger)
{
    public bool CanSeal => keys.CanSeal;

    /// <summary>
    /// The bundle with its key sealed for this certificate: done where the key arrives (the admin API's node,
    /// the ordering grain), so the key crosses no silo boundary in clear.
    /// </summary>
    public CertificateBundle Sealed(ResourceKey key, CertificateBundle bundle) =>
        CertificateChecks.IsSealed(bundle.PrivateKey) ? bundle : bundle with { PrivateKey = keys.Seal(bundle.PrivateKey, Purpose(key)) };

    /// <summary>The row's JSON of a bundle: its key sealed for this certificate.</summary>
    public string ToRow(ResourceKey key, CertificateBundle bundle) => ConfigJson.Write(Sealed(key, bundle));

    /// <summary>True when two sealed bundles hold the same key (a PUT of the same certificate changes nothing).</summary>
    public bool SameKey(ResourceKey key, CertificateBundle a, CertificateBundle b) =>
        keys.TryOpen(a.PrivateKey, Purpose(key), out var first, out _) && keys.TryOpen(b.PrivateKey, Purpose(key), out var second, out _) && first == second;

    /// <summary>
    /// The JSON a worker receives for a committed entry: a certificate's key opened, every other kind as
    /// committed. A key that does not open (its sealing key was removed from <c>Secrets:Keys</c>) is sent
    /// empty, so the workers refuse that certificate alone and say so; the error is logged without the key.
    /// </summary>
    public string ToWire(ConfigEntry entry)
    {
        if (entry.Key.Kind != ResourceKind.Certificate || entry.Json is not { } json)
            return entry.Json!;
        var bundle = ConfigJson.Read<CertificateBundle>(json);
        if (!CertificateChecks.IsSealed(bundle.PrivateKey))
            return json;
        if (keys.TryOpen(bundle.PrivateKey, Purpose(entry.Key), out var pem, out var problem))
            return ConfigJson.Write(bundle with { PrivateKey = pem });
        logger.LogError("The private key of {Certificate} at revision {Revision} cannot be opened: {Problem}; workers get it without its key", entry.Key, entry.Revision, problem);
        return ConfigJson.Write(bundle with { PrivateKey = "" });
    }

    private static string Purpose(ResourceKey key) => $"certificate:{key.Tenant}/{key.Id}";
}
