using ProxyPlatform.Configuration;
using ProxyPlatform.Testing;

namespace ProxyPlatform.ControlPlane.Tests.Certificates;

/// <summary>The one judge of uploaded certificates: what passes, and what each refusal names.</summary>
public sealed class CertificateChecksTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_chain_with_its_key_passes_with_its_names_dates_and_fingerprint(bool rsa)
    {
        var cert = TestCertificates.Issue(["www.acme.test", "*.API.acme.test"], rsa: rsa);

        var errors = CertificateChecks.Check(cert.ChainPem, cert.KeyPem, Now, out var result);

        Assert.Empty(errors);
        Assert.Equal(["www.acme.test", "*.api.acme.test"], result!.Bundle.Names);
        Assert.Equal(64, result.Bundle.Fingerprint.Length);
        Assert.True(result.Bundle.NotAfter > Now);
        Assert.Contains("Intermediate", result.Issuer, StringComparison.Ordinal);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", result.Bundle.PrivateKey, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_of_another_certificate_is_refused_naming_the_private_key()
    {
        var cert = TestCertificates.Issue(["www.acme.test"]);
        var other = TestCertificates.Issue(["www.acme.test"]);

        var errors = CertificateChecks.Check(cert.ChainPem, other.KeyPem, Now, out var result);

        Assert.Null(result);
        var error = Assert.Single(errors);
        Assert.Equal("privateKey", error.Field);
        Assert.Contains("does not match", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(other.KeyBody[..20], error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_of_another_type_or_no_key_at_all_is_refused()
    {
        var cert = TestCertificates.Issue(["www.acme.test"]);
        var rsa = TestCertificates.Issue(["www.acme.test"], rsa: true);

        Assert.Equal("privateKey", Assert.Single(CertificateChecks.Check(cert.ChainPem, rsa.KeyPem, Now, out _)).Field);
        Assert.Equal("privateKey", Assert.Single(CertificateChecks.Check(cert.ChainPem, "not a key", Now, out _)).Field);
        Assert.Equal("privateKey", Assert.Single(CertificateChecks.Check(cert.ChainPem, null, Now, out _)).Field);
    }

    [Fact]
    public void An_expired_certificate_is_refused_naming_it()
    {
        var cert = TestCertificates.Issue(["www.acme.test"], validFor: TimeSpan.FromHours(1), notBefore: Now.AddDays(-2));

        var error = Assert.Single(CertificateChecks.Check(cert.ChainPem, cert.KeyPem, Now, out _), e => e.Field == "certificate[0]");
        Assert.Contains("expired", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_chain_in_the_wrong_order_or_with_a_stranger_is_refused()
    {
        var cert = TestCertificates.Issue(["www.acme.test"]);
        var stranger = TestCertificates.Issue(["www.acme.test"]);

        var reversed = CertificateChecks.Check(cert.IntermediatePem + cert.LeafPem, cert.KeyPem, Now, out _);
        Assert.Contains(reversed, e => e.Field == "certificate[0]" && e.Message.Contains("not signed by", StringComparison.Ordinal));

        // Same issuer name, other key: only the signature tells them apart.
        var forged = CertificateChecks.Check(cert.LeafPem + stranger.IntermediatePem, cert.KeyPem, Now, out _);
        Assert.Contains(forged, e => e.Field == "certificate[0]" && e.Message.Contains("not signed by", StringComparison.Ordinal));

        Assert.Empty(CertificateChecks.Check(cert.LeafPem + cert.IntermediatePem + cert.RootPem, cert.KeyPem, Now, out _));
    }

    [Fact]
    public void Oversized_or_overlong_or_unreadable_chains_are_refused()
    {
        var cert = TestCertificates.Issue(["www.acme.test"]);

        var eleven = string.Concat(Enumerable.Repeat(cert.LeafPem, CertificateLimits.MaxChainCertificates + 1));
        Assert.Contains(CertificateChecks.Check(eleven, cert.KeyPem, Now, out _), e => e.Field == "certificate" && e.Message.Contains("more than", StringComparison.Ordinal));
        Assert.Contains(CertificateChecks.Check(new string('a', CertificateLimits.MaxPemBytes + 1), cert.KeyPem, Now, out _), e => e.Field == "certificate");
        Assert.Contains(CertificateChecks.Check("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", cert.KeyPem, Now, out _), e => e.Field == "certificate[0]");
        Assert.Contains(CertificateChecks.Check("hello", cert.KeyPem, Now, out _), e => e.Field == "certificate");
        Assert.Contains(CertificateChecks.Check(cert.KeyPem, cert.KeyPem, Now, out _), e => e.Field == "certificate[0]");
    }

    [Theory]
    [InlineData("*.example.com", "a.example.com", true)]
    [InlineData("*.example.com", "a.b.example.com", false)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("*.example.com", "*.example.com", true)]
    [InlineData("www.example.com", "www.example.com", true)]
    [InlineData("www.example.com", "api.example.com", false)]
    public void A_certificates_wildcard_covers_one_label(string name, string host, bool covered) =>
        Assert.Equal(covered, HostNames.CertificateCovers(name, host));
}
