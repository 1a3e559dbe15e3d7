using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace ProxyPlatform.ControlPlane.Certificates.Acme;

/// <summary>
/// How the control plane orders certificates (<c>Acme:*</c>): the directory, an extra CA to trust for
/// it (a test server's), contact addresses, when a certificate is renewed and how failures back off.
/// </summary>
public sealed record AcmeOptions
{
    /// <summary><c>Acme:DirectoryUrl</c>; null: ACME certificates are refused.</summary>
    public Uri? DirectoryUrl { get; init; }
    /// <summary><c>Acme:TrustedCaFile</c>: a PEM CA trusted for the directory's TLS besides the system's roots.</summary>
    public string? TrustedCaFile { get; init; }
    /// <summary><c>Acme:Contact</c>: e-mail addresses for the account, comma-separated.</summary>
    public IReadOnlyList<string> Contact { get; init; } = [];
    /// <summary><c>Acme:RenewAtFraction</c>: the part of a certificate's lifetime after which it is renewed (two thirds).</summary>
    public double RenewAtFraction { get; init; } = 2.0 / 3;
    /// <summary><c>Acme:RetrySeconds</c>: the wait after a first failure; it doubles with each failure, up to <see cref="MaxRetry"/>.</summary>
    public TimeSpan FirstRetry { get; init; } = TimeSpan.FromMinutes(1);
    public TimeSpan MaxRetry { get; init; } = TimeSpan.FromHours(6);
    /// <summary><c>Acme:CheckSeconds</c>: how often each node asks whether an order or renewal is due.</summary>
    public TimeSpan CheckPeriod { get; init; } = TimeSpan.FromMinutes(1);
    /// <summary>How long one order may take, challenges and polling included.</summary>
    public TimeSpan OrderTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public static AcmeOptions From(IConfiguration configuration)
    {
        var defaults = new AcmeOptions();
        var fraction = configuration.GetValue("Acme:RenewAtFraction", defaults.RenewAtFraction);
        if (fraction is <= 0 or >= 1)
            throw new InvalidOperationException($"Acme:RenewAtFraction is {fraction}; it must lie between 0 and 1 (two thirds by default).");
        return defaults with
        {
            DirectoryUrl = configuration["Acme:DirectoryUrl"] is { Length: > 0 } url ? new Uri(url, UriKind.Absolute) : null,
            TrustedCaFile = configuration["Acme:TrustedCaFile"] is { Length: > 0 } file ? file : null,
            Contact = [.. (configuration["Acme:Contact"] ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)],
            RenewAtFraction = fraction,
            FirstRetry = TimeSpan.FromSeconds(configuration.GetValue("Acme:RetrySeconds", defaults.FirstRetry.TotalSeconds)),
            CheckPeriod = TimeSpan.FromSeconds(configuration.GetValue("Acme:CheckSeconds", defaults.CheckPeriod.TotalSeconds)),
        };
    }

    /// <summary>The client that reaches the directory: the system's roots, and <see cref="TrustedCaFile"/>'s CA when set.</summary>
    public HttpClient CreateHttpClient()
    {
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        if (TrustedCaFile is { } file)
        {
            var trusted = new X509Certificate2Collection();
            trusted.ImportFromPemFile(file);
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (errors == SslPolicyErrors.None)
                    return true;
                if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || certificate is null)
                    return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
            };
        }
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
    }
}
