using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Access;

/// <summary>
/// What happens to credentials over their life and at the edges of the process: revocation seen by
/// every silo, nothing secret in a database dump, no start without a key, and TLS to the control plane.
/// </summary>
public sealed class CredentialLifecycleTests
{
    [Fact]
    public async Task A_key_revoked_on_one_silo_is_refused_by_the_other()
    {
        await using var platform = await Platform.StartAsync("revocation", workers: 0, silos: 2);
        await platform.PutOkAsync("/v1/tenants/rv", new { hostnames = new[] { "rv.test" } });
        var key = await AccessFixture.CreateKeyAsync(platform.Silos[0].Admin, "tenant-viewer", "rv");
        using var onSecond = platform.Silos[1].Client(key["secret"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await onSecond.GetAsync("/v1/tenants/rv")).StatusCode);

        using (var revoke = await platform.Silos[0].Admin.DeleteAsync($"/v1/keys/{key["id"]}"))
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        var clock = Stopwatch.StartNew();
        await Eventually.Async(async () => (await onSecond.GetAsync("/v1/tenants/rv")).StatusCode == HttpStatusCode.Unauthorized, null,
            () => "the second silo still accepts the revoked key");
        // The figure for docs/benchmarks.md; a deadline above is for giving up only.
        TestContext.Current.TestOutputHelper?.WriteLine($"Refused by the other silo {clock.ElapsedMilliseconds} ms after the revocation was answered.");

        var listed = JsonNode.Parse(await platform.Silos[1].Admin.GetStringAsync($"/v1/keys/{key["id"]}"))!;
        Assert.NotNull(listed["revokedAt"]);
    }

    [Fact]
    public async Task A_dump_of_the_database_holds_no_secret()
    {
        await using var platform = await Platform.StartAsync("nosecrets", workers: 0);
        await platform.PutOkAsync("/v1/tenants/ns", new { hostnames = new[] { "ns.test" } });
        var secrets = new List<string> { platform.OperatorKey, platform.WorkerToken };
        foreach (var role in new[] { "operator", "tenant-admin", "tenant-viewer" })
        {
            var key = await AccessFixture.CreateKeyAsync(platform.Admin, role, role == "operator" ? null : "ns");
            secrets.Add(key["secret"]!.GetValue<string>());
            // The key works, so it is stored somehow: only not as itself.
            using var client = platform.Silos[0].Client(secrets[^1]);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/tenants/ns")).StatusCode);
        }
        using (var token = await platform.Admin.PostAsync("/v1/pools/default/tokens", new StringContent("""{"name":"w"}""", Encoding.UTF8, "application/json")))
            secrets.Add(JsonNode.Parse(await token.Content.ReadAsStringAsync())!["secret"]!.GetValue<string>());

        var dump = await PgDumpAsync(platform.ConnectionString);
        Assert.Contains("credentials", dump, StringComparison.Ordinal);
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(secret, dump, StringComparison.Ordinal);
            // Nor the random part alone.
            Assert.DoesNotContain(secret[^20..], dump, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("--Admin:Url=http://127.0.0.1:0", "Auth:OperatorKey is not set")]
    [InlineData("--Auth:Disabled=true --Admin:Url=http://0.0.0.0:0", "is allowed only when every listener is on loopback")]
    [InlineData("--Auth:OperatorKey=short", "at least 16 characters")]
    public async Task The_control_plane_does_not_start_open(string args, string reason)
    {
        var postgres = await PostgresServer.GetAsync();
        var connection = await postgres.CreateDatabaseAsync("openstart");
        await using var process = PlatformProcess.ControlPlane(
            [$"--ConnectionStrings:Postgres={connection}", "--Grpc:Url=http://127.0.0.1:0", "--Ops:Url=http://127.0.0.1:0",
             $"--Orleans:SiloPort={ReservedPorts.Take()}", $"--Orleans:GatewayPort={ReservedPorts.Take()}", .. args.Split(' ')]);
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => process.StartAsync(ReadyLine()));
        Assert.Contains(reason, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_key_on_loopback_only_the_control_plane_runs_for_a_developer_when_told_to()
    {
        var postgres = await PostgresServer.GetAsync();
        var connection = await postgres.CreateDatabaseAsync("devmode");
        await using var process = PlatformProcess.ControlPlane(
            [$"--ConnectionStrings:Postgres={connection}", "--Admin:Url=http://127.0.0.1:0", "--Grpc:Url=http://127.0.0.1:0", "--Ops:Url=http://127.0.0.1:0",
             $"--Orleans:SiloPort={ReservedPorts.Take()}", $"--Orleans:GatewayPort={ReservedPorts.Take()}", "--Auth:Disabled=true"]);
        var ready = await process.StartAsync(ReadyLine());
        using var anonymous = new HttpClient { BaseAddress = new Uri(ready.Groups["admin"].Value) };
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/v1/tenants")).StatusCode);
    }

    [Fact]
    public async Task A_worker_streams_from_an_https_control_plane_it_verifies_against_a_private_CA()
    {
        using var certificates = TestCertificates.Create();
        await using var backend = await TestBackend.StartAsync("tls");
        await using var platform = await Platform.StartAsync("httpsgrpc", 0, 1, connection: null,
            "--Grpc:Url=https://127.0.0.1:0",
            $"--Kestrel:Certificates:Default:Path={certificates.ServerCertificate}",
            $"--Kestrel:Certificates:Default:KeyPath={certificates.ServerKey}");
        Assert.StartsWith("https://", platform.GrpcUrl, StringComparison.Ordinal);
        await platform.CreateServiceAsync("tls", "tls.test", [backend]);

        var trusting = await platform.StartWorkerAsync("trusting", 0, $"--ControlPlane:CaFile={certificates.Authority}");
        (await trusting.WaitForStatusAsync("tls.test", "/", 200)).Dispose();

        // Without the CA the certificate is not trusted: the worker stays unconfigured and says why.
        var doubting = await platform.StartWorkerAsync("doubting", 0);
        await Eventually.Async(() => doubting.Process.Output.Contains("SSL", StringComparison.OrdinalIgnoreCase), null,
            () => $"the worker did not refuse the unverified certificate:\n{doubting.Process.Output}");
        Assert.False((await doubting.StatsAsync()).Connected);
    }

    private static System.Text.RegularExpressions.Regex ReadyLine() =>
        new(@"Control plane ready: admin (?<admin>https?://[^\s,]+), gRPC (?<grpc>https?://[^\s,]+), ops (?<ops>https?://[^\s,]+),");

    private static async Task<string> PgDumpAsync(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var bin = (await RunAsync("bash", [Path.Combine(RepositoryRoot(), "infra", "postgres.sh"), "bindir"])).Trim();
        return await RunAsync(Path.Combine(bin, "pg_dump"),
            ["-h", builder.Host!, "-p", builder.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", builder.Username!, "--no-owner", builder.Database!]);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ProxyPlatform.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("The repository root (ProxyPlatform.sln) was not found above the test's folder.");
    }

    private static async Task<string> RunAsync(string file, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{file} exited with {process.ExitCode}: {await error}");
        return await output;
    }

    /// <summary>A private CA and a server certificate it signed for 127.0.0.1 and localhost, as PEM files.</summary>
    private sealed class TestCertificates : IDisposable
    {
        private readonly string _dir = Directory.CreateTempSubdirectory("proxyplatform-tls-").FullName;

        public string Authority => Path.Combine(_dir, "ca.pem");
        public string ServerCertificate => Path.Combine(_dir, "server.pem");
        public string ServerKey => Path.Combine(_dir, "server.key");

        public static TestCertificates Create()
        {
            var files = new TestCertificates();
            using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var caRequest = new CertificateRequest("CN=ProxyPlatform test CA", caKey, HashAlgorithmName.SHA256);
            caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

            using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
            using var server = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(8));

            File.WriteAllText(files.Authority, ca.ExportCertificatePem());
            File.WriteAllText(files.ServerCertificate, server.ExportCertificatePem());
            File.WriteAllText(files.ServerKey, serverKey.ExportPkcs8PrivateKeyPem());
            return files;
        }

        public void Dispose() => Directory.Delete(_dir, recursive: true);
    }
}
