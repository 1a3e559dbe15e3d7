using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Secrets;
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

    /// <summary>The row's JSON of a bundle whose key is in clear: the same bundle, its key sealed for this certificate.</summary>
    public string ToRow(ResourceKey key, CertificateBundle clear) =>
        ConfigJson.Write(clear with { PrivateKey = keys.Seal(clear.PrivateKey, Purpose(key)) });

    /// <summary>True when the row's sealed key is <paramref name="pem"/> (a PUT of the same certificate changes nothing).</summary>
    public bool HoldsKey(ResourceKey key, CertificateBundle row, string pem) =>
        keys.TryOpen(row.PrivateKey, Purpose(key), out var clear, out _) && clear == pem;

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
