using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Tls;

/// <summary>
/// Certificates in the worker's last-known-good file (DESIGN.md, "Secrets on workers"): with
/// <c>DataPlane:SecretsKey</c> the private key is sealed there, and a worker restarted while the control
/// plane is down still serves TLS from the file.
/// </summary>
public sealed class LastKnownGoodTlsTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task With_a_secrets_key_the_file_holds_the_private_key_sealed_and_a_restart_without_the_control_plane_serves_TLS_from_it()
    {
        await using var platform = await Platform.StartAsync("tlslkg", workers: 0);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var sealedWorker = await platform.StartWorkerAsync("sealed", 0, $"--DataPlane:SecretsKey={key}");
        var clearWorker = await platform.StartWorkerAsync("clear");
        await using var backend = await TestBackend.StartAsync("lkg");
        await platform.PutOkAsync("/v1/tenants/lkg", new { hostnames = new[] { "lkg.test", "*.lkg.test" } });
        await platform.PutOkAsync("/v1/tenants/lkg/clusters/web", new { });
        await platform.PutOkAsync("/v1/tenants/lkg/clusters/web/backends/a", new { address = backend.Address });
        await platform.PutOkAsync("/v1/tenants/lkg/routes/main", new { cluster = "web" });
        var certificate = TestCertificates.Issue(["www.lkg.test"]);
        var revision = await platform.PutOkAsync("/v1/tenants/lkg/certificates/site", new { certificate = certificate.ChainPem, privateKey = certificate.KeyPem });

        foreach (var worker in new[] { sealedWorker, clearWorker })
        {
            await worker.WaitForRevisionAsync(revision);
            await Eventually.Async(async () => (await worker.StatsAsync()).SavedRevision >= revision, null, () => $"{worker.Id} has not saved revision {revision}");
        }
        var keyLines = certificate.KeyPem.Split('\n').Where(l => l.Length > 16 && !l.StartsWith("-----", StringComparison.Ordinal)).ToList();
        var sealedFile = Encoding.Latin1.GetString(await File.ReadAllBytesAsync(Path.Combine(sealedWorker.DataDir, "last-known-good"), Cancel));
        Assert.All(keyLines, line => Assert.DoesNotContain(line, sealedFile, StringComparison.Ordinal));
        Assert.DoesNotContain("PRIVATE KEY", sealedFile, StringComparison.Ordinal);
        Assert.Contains("pp-sealed:v1:", sealedFile, StringComparison.Ordinal);
        // Without a key the file keeps it as sent (mode 0600): what the sealed file is compared with.
        var clearFile = Encoding.Latin1.GetString(await File.ReadAllBytesAsync(Path.Combine(clearWorker.DataDir, "last-known-good"), Cancel));
        Assert.Contains(keyLines[0], clearFile, StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(sealedWorker.DataDir, "last-known-good")));

        await platform.KillControlPlaneAsync();
        await sealedWorker.KillAsync();
        await sealedWorker.StartAsync();

        var (leaf, _) = await Eventually.Succeeds(() => TlsClients.HandshakeAsync(sealedWorker.HttpsUrl!, "www.lkg.test", Cancel),
            transient: e => e is System.Security.Authentication.AuthenticationException or IOException);
        using (leaf)
        using (var expected = X509Certificate2.CreateFromPem(certificate.LeafPem))
            Assert.Equal(expected.Thumbprint, leaf.Thumbprint);
        using var client = TlsClients.Client(sealedWorker.HttpsUrl!, HttpVersion.Version20);
        using var response = await client.GetAsync("https://www.lkg.test/after-restart", Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(keyLines[0], sealedWorker.Process.Output, StringComparison.Ordinal);
    }
}
