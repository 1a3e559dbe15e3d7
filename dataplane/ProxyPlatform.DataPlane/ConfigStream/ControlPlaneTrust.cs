using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace ProxyPlatform.DataPlane.ConfigStream;

/// <summary>
/// How the worker verifies an <c>https://</c> control plane signed by a private CA
/// (<c>ControlPlane:CaFile</c>): the chain must end at one of that file's certificates, and only
/// there, and the certificate must name the host the worker dialled. Without a CA file the
/// system's roots verify it, as for any HTTPS server.
/// </summary>
public static class ControlPlaneTrust
{
    public static SslClientAuthenticationOptions? From(string? caFile)
    {
        if (caFile is null)
            return null;
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        if (roots.Count == 0)
            throw new InvalidOperationException($"ControlPlane:CaFile '{caFile}' holds no PEM certificate.");
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.AddRange(roots);
        return new SslClientAuthenticationOptions { CertificateChainPolicy = policy };
    }
}
