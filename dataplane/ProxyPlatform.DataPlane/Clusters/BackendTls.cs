using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.DataPlane.Clusters;

/// <summary>
/// How a cluster's connections verify its <c>https://</c> backends (<see cref="BackendTlsSpec"/>): without
/// settings, .NET's own verification against the system's roots for the address's host; with a CA, that CA
/// is the only root; with a server name, the certificate must carry that name instead of the address's
/// host; with <c>insecureSkipVerify</c>, nothing is verified. A refusal is thrown with the reason, which
/// the proxy passes on in its 502 <c>backend-tls</c> problem.
/// </summary>
public static class BackendTls
{
    /// <summary>The client options for <paramref name="tls"/>; null when .NET's defaults apply.</summary>
    public static SslClientAuthenticationOptions? ClientOptions(BackendTlsSpec? tls)
    {
        if (tls is null)
            return null;
        var options = new SslClientAuthenticationOptions { EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13 };
        if (tls.InsecureSkipVerify)
        {
            options.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
            return options;
        }
        X509Certificate2Collection? roots = null;
        if (tls.CaPem is { } pem)
        {
            roots = [];
            roots.ImportFromPem(pem);
        }
        var serverName = tls.ServerName;
        options.RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Verify(certificate, chain, errors, roots, serverName);
        return options;
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
