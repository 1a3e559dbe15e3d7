using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Tests.Infrastructure;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Resources;
using ProxyPlatform.Testing;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.Resources;

namespace ProxyPlatform.DataPlane.Tests.Tls;

/// <summary>
/// Certificates as the worker compiles and indexes them (the applier with its real compiler): by the
/// server name's owner, exact before a one-label wildcard, each bad certificate rejected alone while
/// the version served before keeps serving.
/// </summary>
public sealed class CertificateIndexTests : IDisposable
{
    private readonly TempDirectory _dataDir = new();
    private readonly WorkerConfiguration _worker;
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public CertificateIndexTests() => _worker = new WorkerConfiguration(_dataDir.Path);

    public void Dispose()
    {
        _worker.Dispose();
        _dataDir.Dispose();
    }

    private static CertificateBundle Bundle(TestCertificate certificate)
    {
        Assert.Empty(CertificateChecks.Check(certificate.ChainPem, certificate.KeyPem, DateTimeOffset.UtcNow, out var result));
        return result!.Bundle;
    }

    private static Resource Certificate(string tenant, string id, CertificateBundle bundle, long revision) =>
        Json(ResourceType.Certificate, tenant, id, JsonSerializer.Serialize(bundle, ConfigJson.Options), revision);

    private static string Sha256(TestCertificate certificate)
    {
        using var leaf = X509Certificate2.CreateFromPem(certificate.LeafPem);
        return Convert.ToHexStringLower(SHA256.HashData(leaf.RawData));
    }

    private string? Presented(string? serverName) => _worker.Applier.Runtime is { } runtime ? runtime.Certificates.Find(serverName, runtime.Routes)?.Fingerprint : null;

    [Fact]
    public async Task Server_names_find_their_owners_certificate_exact_first_and_a_bad_certificate_is_rejected_alone()
    {
        var exact = TestCertificates.Issue(["www.acme.test"]);
        var wildcard = TestCertificates.Issue(["*.acme.test"], rsa: true);
        var other = TestCertificates.Issue(["www.other.test"]);
        var mismatched = Bundle(TestCertificates.Issue(["api.acme.test"])) with { PrivateKey = exact.KeyPem };

        var result = await _worker.Applier.ApplyAsync(Snapshot(5,
            Tenant("acme", new TenantSpec { Hostnames = ["acme.test", "*.acme.test"] }, 1),
            Tenant("other", new TenantSpec { Hostnames = ["other.test", "*.other.test"] }, 1),
            Certificate("acme", "www", Bundle(exact), 2),
            Certificate("acme", "wild", Bundle(wildcard), 3),
            Certificate("acme", "bad", mismatched, 4),
            Certificate("other", "www", Bundle(other), 5),
            // A tenant that does not exist cannot have certificates on this worker.
            Certificate("ghost", "www", Bundle(TestCertificates.Issue(["www.ghost.test"])), 5)), Cancel);

        Assert.Equal(ApplyOutcome.Applied, result.Outcome);
        Assert.Equal(Sha256(exact), Presented("www.acme.test"));
        Assert.Equal(Sha256(exact), Presented("WWW.Acme.Test."));
        Assert.Equal(Sha256(wildcard), Presented("api.acme.test"));
        Assert.Equal(Sha256(other), Presented("www.other.test"));
        Assert.Null(Presented("a.b.acme.test"));
        Assert.Null(Presented("acme.test"));
        Assert.Null(Presented("www.ghost.test"));
        Assert.Null(Presented(""));
        Assert.Null(Presented(null));
        Assert.Equal(3, _worker.Applier.Runtime!.Certificates.Count);
        var rejected = _worker.Applier.RejectedResources;
        Assert.Contains("could not be compiled", rejected[ResourceKey.OfCertificate("acme", "bad")].Reason, StringComparison.Ordinal);
        Assert.Contains("tenant 'ghost'", rejected[ResourceKey.OfCertificate("ghost", "www")].Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(exact.KeyBody[..40], string.Join("\n", rejected.Values.Select(r => r.Reason)), StringComparison.Ordinal);

        // A bad new version keeps the good one serving; a sealed key (a control plane's row) is refused too.
        await _worker.Applier.ApplyAsync(Delta(5, 6, [Certificate("acme", "www", Bundle(exact) with { PrivateKey = "pp-sealed:v1:k:AAAA" }, 6)]), Cancel);
        Assert.Equal(Sha256(exact), Presented("www.acme.test"));
        Assert.Contains("sealed", _worker.Applier.RejectedResources[ResourceKey.OfCertificate("acme", "www")].Reason, StringComparison.Ordinal);

        // Removing the exact certificate leaves the wildcard to answer; removing the other tenant's claims leaves its host without one.
        await _worker.Applier.ApplyAsync(Delta(6, 7, [Tenant("other", new TenantSpec { Hostnames = ["else.test"] }, 7)], [Key(ResourceType.Certificate, "acme", "www")]), Cancel);
        Assert.Equal(Sha256(wildcard), Presented("www.acme.test"));
        Assert.Null(Presented("www.other.test"));
    }

    [Fact]
    public async Task Of_two_certificates_for_a_name_the_one_valid_longest_is_presented_and_a_handshake_without_one_is_refused()
    {
        var shorter = TestCertificates.Issue(["www.acme.test"], validFor: TimeSpan.FromDays(10));
        var longer = TestCertificates.Issue(["www.acme.test"], validFor: TimeSpan.FromDays(90));
        await _worker.Applier.ApplyAsync(Snapshot(3,
            Tenant("acme", new TenantSpec { Hostnames = ["acme.test", "*.acme.test"] }, 1),
            Certificate("acme", "a", Bundle(longer), 2),
            Certificate("acme", "b", Bundle(shorter), 3)), Cancel);

        Assert.Equal(Sha256(longer), Presented("www.acme.test"));
        var options = _worker.Selector.Select("www.acme.test");
        Assert.Equal(SslProtocols.Tls12 | SslProtocols.Tls13, options.EnabledSslProtocols);
        Assert.NotNull(options.ServerCertificateContext);
        Assert.Throws<AuthenticationException>(() => _worker.Selector.Select("nobody.test"));
        Assert.Throws<AuthenticationException>(() => _worker.Selector.Select(null));
        Assert.Equal(2, _worker.Selector.Refused);
    }
}
