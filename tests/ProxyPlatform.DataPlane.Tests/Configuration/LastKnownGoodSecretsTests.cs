using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.DataPlane.Tests.Infrastructure;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Secrets;
using ProxyPlatform.Testing;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.Resources;

namespace ProxyPlatform.DataPlane.Tests.Configuration;

/// <summary>Certificates' private keys in the last-known-good file, with and without <c>DataPlane:SecretsKey</c>.</summary>
public sealed class LastKnownGoodSecretsTests : IDisposable
{
    private readonly TempDirectory _dataDir = new();
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public void Dispose() => _dataDir.Dispose();

    private LastKnownGood File(SecretKeyRing? ring, RecordingLogger<LastKnownGood>? logger = null) =>
        new(new DataPlaneOptions { WorkerId = "w", DataDir = _dataDir.Path }, logger ?? new RecordingLogger<LastKnownGood>(), ring);

    private static SecretKeyRing Ring(string key) =>
        SecretKeyRing.Single(new ConfigurationBuilder().AddInMemoryCollection([new("DataPlane:SecretsKey", key)]).Build(), "DataPlane:SecretsKey");

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private static ConfigUpdate WithCertificate(TestCertificate certificate, long revision, long baseRevision = 0)
    {
        Assert.Empty(CertificateChecks.Check(certificate.ChainPem, certificate.KeyPem, DateTimeOffset.UtcNow, out var result));
        var resource = Json(ResourceType.Certificate, "acme", "www", JsonSerializer.Serialize(result!.Bundle, ConfigJson.Options), revision);
        return baseRevision == 0 ? Snapshot(revision, Tenant("acme", new TenantSpec { Hostnames = ["acme.test"] }, revision), resource) : Delta(baseRevision, revision, [resource]);
    }

    private static string KeyOf(ConfigUpdate update) =>
        JsonSerializer.Deserialize<CertificateBundle>(update.Upserts.Single(u => u.Key.Kind == ResourceType.Certificate).SpecJson.Span, ConfigJson.Options)!.PrivateKey;

    [Fact]
    public async Task With_a_key_snapshots_and_appended_deltas_hold_private_keys_sealed_and_read_back_in_clear()
    {
        var key = NewKey();
        var first = TestCertificates.Issue(["www.acme.test"]);
        var second = TestCertificates.Issue(["www.acme.test"]);
        var writer = File(Ring(key));
        await writer.SaveAsync([WithCertificate(first, 1)], Cancel);
        await writer.SaveAsync([WithCertificate(second, 2, baseRevision: 1)], Cancel);

        var text = Encoding.Latin1.GetString(await System.IO.File.ReadAllBytesAsync(writer.FilePath, Cancel));
        foreach (var certificate in new[] { first, second })
            Assert.DoesNotContain(certificate.KeyBody[..40].Replace("\n", "", StringComparison.Ordinal), text.Replace("\\n", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);

        var restored = await File(Ring(key)).LoadAsync(Cancel);
        Assert.Equal(second.KeyPem.Trim(), KeyOf(restored!).Trim());
    }

    [Fact]
    public async Task Without_the_key_a_sealed_private_key_stays_sealed_and_says_so_and_without_a_key_at_all_it_is_written_as_sent()
    {
        var certificate = TestCertificates.Issue(["www.acme.test"]);
        await File(Ring(NewKey())).SaveAsync([WithCertificate(certificate, 1)], Cancel);

        var logger = new RecordingLogger<LastKnownGood>();
        var restored = await File(Ring(NewKey()), logger).LoadAsync(Cancel);
        Assert.True(CertificateChecks.IsSealed(KeyOf(restored!)));
        Assert.Contains(logger.Lines, l => l.Message.Contains("acme/www", StringComparison.Ordinal) && l.Message.Contains("DataPlane:SecretsKey", StringComparison.Ordinal));

        await File(null).SaveAsync([WithCertificate(certificate, 2)], Cancel);
        Assert.Equal(certificate.KeyPem.Trim(), KeyOf((await File(null).LoadAsync(Cancel))!).Trim());
    }
}
