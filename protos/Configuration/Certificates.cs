namespace ProxyPlatform.Configuration;

/// <summary>
/// A tenant's TLS certificate as the admin API takes it: a PEM chain (leaf first) with its private key,
/// or <see cref="Acme"/> to have the control plane order one. Never answered back: a GET shows the
/// certificate's facts (<see cref="CertificateBundle"/> without its key), not this body.
/// </summary>
public sealed record CertificateSpec
{
    /// <summary>The PEM chain: the leaf first, then each certificate's issuer; the root may be left out.</summary>
    public string? Certificate { get; init; }
    /// <summary>The leaf's private key, PEM (PKCS#8, or PKCS#1 RSA / SEC1 EC).</summary>
    public string? PrivateKey { get; init; }
    /// <summary>Order the certificate over ACME instead (HTTP-01), for hosts the tenant owns.</summary>
    public AcmeCertificateSpec? Acme { get; init; }
}

/// <summary>The hosts an ACME-managed certificate is ordered for: exact names within the tenant's claims (HTTP-01 cannot prove a wildcard).</summary>
public sealed record AcmeCertificateSpec
{
    public IReadOnlyList<string> Hosts { get; init; } = [];
}

/// <summary>
/// A certificate as it is distributed to the workers of its tenant's pool (resource kind
/// <c>CERTIFICATE</c>, key <c>tenant/certificate</c>): what a worker needs to serve it by SNI.
/// </summary>
/// <remarks>
/// On the stream <see cref="PrivateKey"/> is the PEM key in clear (the stream is TLS in production and
/// reaches only the pool's workers). In the control plane's <c>config_resources</c> row the same field
/// holds the key sealed with AES-GCM (<c>pp-sealed:…</c>, docs/decisions.md "Certificates"); the
/// control plane opens it when it renders the resource for the stream.
/// </remarks>
public sealed record CertificateBundle
{
    /// <summary>The leaf's DNS names (its SANs), normalized (<see cref="HostNames.Normalize"/>); a wildcard covers one label (<see cref="HostNames.CertificateCovers"/>).</summary>
    public IReadOnlyList<string> Names { get; init; } = [];
    /// <summary>The PEM chain, leaf first, as validated.</summary>
    public string Chain { get; init; } = "";
    /// <summary>PEM private key on the stream; sealed in the control plane's rows.</summary>
    public string PrivateKey { get; init; } = "";
    public DateTimeOffset NotBefore { get; init; }
    public DateTimeOffset NotAfter { get; init; }
    /// <summary>SHA-256 of the leaf's DER, lower-case hex: names this certificate in logs and answers.</summary>
    public string Fingerprint { get; init; } = "";
}

/// <summary>
/// The HTTP-01 challenges of one ACME order in progress (resource kind <c>ACME_CHALLENGE</c>, key
/// <c>tenant/certificate</c>): a worker answers <c>GET /.well-known/acme-challenge/{token}</c> for a
/// request to <see cref="AcmeHttpChallenge.Host"/> with the key authorization, as <c>text/plain</c>.
/// Removed once the order is validated.
/// </summary>
public sealed record AcmeChallengeSpec
{
    public IReadOnlyList<AcmeHttpChallenge> Challenges { get; init; } = [];
}

public sealed record AcmeHttpChallenge
{
    /// <summary>The host being validated, normalized.</summary>
    public string Host { get; init; } = "";
    /// <summary>The ACME token (base64url), the last segment of the challenge path.</summary>
    public string Token { get; init; } = "";
    /// <summary><c>token.thumbprint</c>: the body the ACME server expects.</summary>
    public string KeyAuthorization { get; init; } = "";
}

/// <summary>Bounds on certificate input, whoever gives it.</summary>
public static class CertificateLimits
{
    public const int MaxChainCertificates = 10;
    /// <summary>The most bytes of PEM in a chain, and in a private key.</summary>
    public const int MaxPemBytes = 64 * 1024;
    /// <summary>The most hosts an ACME order may name (RFC 8555 servers commonly allow 100).</summary>
    public const int MaxAcmeHosts = 100;
    /// <summary>The most challenges one challenge resource carries.</summary>
    public const int MaxChallenges = MaxAcmeHosts;
}
