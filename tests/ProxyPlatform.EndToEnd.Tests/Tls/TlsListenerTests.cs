using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Tls;

/// <summary>
/// The worker's TLS listener (issue 21, part 2) against a real control plane: each server name gets its
/// owner's certificate, exact before wildcard; a name without one, or no name, fails the handshake; h2
/// and http/1.1 share the port over ALPN; a replaced certificate is presented from the next handshake
/// while open connections keep working.
/// </summary>
public sealed class TlsListenerTests(OneWorkerPlatform fixture) : IClassFixture<OneWorkerPlatform>
{
    private Platform Platform => fixture.Platform;
    private Worker Worker => Platform.Workers[0];
    private string HttpsUrl => Worker.HttpsUrl ?? throw new InvalidOperationException("The worker has no TLS listener.");
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>A tenant owning <c>zone</c> and <c>*.zone</c>, with a route to an echo backend.</summary>
    private async Task<(string Tenant, string Zone, TestBackend Backend)> ServiceAsync(string prefix)
    {
        var tenant = $"{prefix}{Guid.NewGuid():N}"[..16];
        var zone = $"{tenant}.test";
        var backend = await TestBackend.StartAsync(tenant);
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { zone, $"*.{zone}" } });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web", new { });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/a", new { address = backend.Address });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/main", new { cluster = "web" });
        return (tenant, zone, backend);
    }

    private async Task<long> UploadAsync(string tenant, string id, TestCertificate certificate) =>
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/certificates/{id}", new { certificate = certificate.ChainPem, privateKey = certificate.KeyPem });

    private static string Sha256(X509Certificate2 certificate) => certificate.GetCertHashString(HashAlgorithmName.SHA256);

    private static string Sha256(TestCertificate certificate)
    {
        using var leaf = X509Certificate2.CreateFromPem(certificate.LeafPem);
        return Sha256(leaf);
    }

    private async Task<string> PresentedAsync(string serverName)
    {
        var (leaf, _) = await TlsClients.HandshakeAsync(HttpsUrl, serverName, Cancel);
        using (leaf)
            return Sha256(leaf);
    }

    [Fact]
    public async Task Each_server_name_gets_its_owners_certificate_exact_before_wildcard_and_requests_reach_the_tenants_routes()
    {
        var (a, zoneA, backendA) = await ServiceAsync("sa");
        var (b, zoneB, backendB) = await ServiceAsync("sb");
        await using var _ = backendA;
        await using var __ = backendB;
        var exact = TestCertificates.Issue([$"www.{zoneA}"]);
        var wildcard = TestCertificates.Issue([$"*.{zoneA}", zoneA]);
        var other = TestCertificates.Issue([$"www.{zoneB}"]);
        await UploadAsync(a, "www", exact);
        await UploadAsync(a, "wild", wildcard);
        await Worker.WaitForRevisionAsync(await UploadAsync(b, "www", other));

        Assert.Equal(Sha256(exact), await PresentedAsync($"www.{zoneA}"));
        Assert.Equal(Sha256(wildcard), await PresentedAsync($"api.{zoneA}"));
        Assert.Equal(Sha256(wildcard), await PresentedAsync(zoneA.ToUpperInvariant()));
        Assert.Equal(Sha256(other), await PresentedAsync($"www.{zoneB}"));

        using var client = TlsClients.Client(HttpsUrl, HttpVersion.Version11);
        using var response = await client.GetAsync($"https://www.{zoneB}/hello", Cancel);
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        var echo = JsonSerializer.Deserialize<BackendEcho>(body, JsonSerializerOptions.Web)!;
        Assert.Equal(b, echo.Backend);
        Assert.Equal("/hello", echo.Path);
    }

    [Fact]
    public async Task A_server_name_without_a_certificate_of_its_owner_or_no_server_name_fails_the_handshake()
    {
        var (a, zoneA, backendA) = await ServiceAsync("ua");
        var (_, zoneB, backendB) = await ServiceAsync("ub");
        await using var _ = backendA;
        await using var __ = backendB;
        await Worker.WaitForRevisionAsync(await UploadAsync(a, "wild", TestCertificates.Issue([$"*.{zoneA}"])));
        Assert.NotNull(await PresentedAsync($"www.{zoneA}"));

        // Two labels below a wildcard (RFC 6125), the bare zone the wildcard does not name, a host of a
        // tenant without certificates, a host nobody owns, and no server name at all.
        foreach (var name in new string?[] { $"a.b.{zoneA}", zoneA, $"www.{zoneB}", "nobody-owns.example", null })
        {
            var failure = await Record.ExceptionAsync(() => TlsClients.HandshakeAsync(HttpsUrl, name, Cancel));
            Assert.True(failure is System.Security.Authentication.AuthenticationException or IOException,
                $"the handshake for '{name}' did not fail: {failure?.ToString() ?? "a certificate was presented"}");
        }
        Assert.DoesNotContain("Unhandled", Worker.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task H2_and_http11_are_negotiated_over_ALPN_on_the_same_port()
    {
        var (tenant, zone, backend) = await ServiceAsync("h2");
        await using var _ = backend;
        await Worker.WaitForRevisionAsync(await UploadAsync(tenant, "site", TestCertificates.Issue([$"*.{zone}"])));

        var (leaf, alpn) = await TlsClients.HandshakeAsync(HttpsUrl, $"www.{zone}", Cancel);
        leaf.Dispose();
        Assert.Equal("h2", alpn);
        foreach (var version in new[] { HttpVersion.Version20, HttpVersion.Version11 })
        {
            using var client = TlsClients.Client(HttpsUrl, version);
            using var response = await client.GetAsync($"https://www.{zone}/v", Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(version, response.Version);
            Assert.Equal(tenant, JsonSerializer.Deserialize<BackendEcho>(await response.Content.ReadAsStringAsync(Cancel), JsonSerializerOptions.Web)!.Backend);
        }
    }

    [Fact]
    public async Task A_gRPC_call_over_TLS_reaches_an_HTTP2_only_backend_without_the_h2c_listener_and_its_trailers_come_back()
    {
        await using var grpc = await ScriptedBackend.StartGrpcEchoAsync("grpc");
        var tenant = $"g{Guid.NewGuid():N}"[..16];
        var zone = $"{tenant}.test";
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"*.{zone}" } });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/echo", new { });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/echo/backends/a", new { address = grpc.Address });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/main", new { cluster = "echo" });
        await Worker.WaitForRevisionAsync(await UploadAsync(tenant, "site", TestCertificates.Issue([$"*.{zone}"])));

        byte[] frame = [0, 0, 0, 0, 5, .. "hello"u8];
        using var client = TlsClients.Client(HttpsUrl, HttpVersion.Version20);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"https://api.{zone}/echo.Echo/Say")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Headers.TE.Add(new System.Net.Http.Headers.TransferCodingWithQualityHeaderValue("trailers"));
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Cancel);
        var body = await response.Content.ReadAsByteArrayAsync(Cancel);

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {System.Text.Encoding.UTF8.GetString(body)}");
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(frame, body);
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal(1, grpc.Requests);
    }

    [Fact]
    public async Task A_replaced_certificate_is_presented_from_the_next_handshake_while_open_connections_and_traffic_keep_succeeding()
    {
        var (tenant, zone, backend) = await ServiceAsync("rot");
        await using var _ = backend;
        var first = TestCertificates.Issue([$"www.{zone}"]);
        var second = TestCertificates.Issue([$"www.{zone}"]);
        await Worker.WaitForRevisionAsync(await UploadAsync(tenant, "site", first));

        // One kept-alive h2 connection, opened before the rotation.
        var connections = 0;
        using var kept = TlsClients.Client(HttpsUrl, HttpVersion.Version20, () => Interlocked.Increment(ref connections));
        using (var before = await kept.GetAsync($"https://www.{zone}/before", Cancel))
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);

        // Traffic on new connections throughout the rotation: none of it may fail.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var sent = 0;
        var load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var fresh = TlsClients.Client(HttpsUrl, HttpVersion.Version11);
                try
                {
                    using var response = await fresh.GetAsync($"https://www.{zone}/during", stop.Token);
                    Interlocked.Increment(ref sent);
                    if (response.StatusCode != HttpStatusCode.OK)
                        failures.Enqueue($"{(int)response.StatusCode}");
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
                catch (Exception e)
                {
                    failures.Enqueue(e.Message);
                }
            }
        }, Cancel);

        await Worker.WaitForRevisionAsync(await UploadAsync(tenant, "site", second));
        await Eventually.Async(async () => await PresentedAsync($"www.{zone}") == Sha256(second), null, () => "the new certificate is not presented");
        using (var after = await kept.GetAsync($"https://www.{zone}/after", Cancel))
            Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(1, Volatile.Read(ref connections));

        await Eventually.Async(() => Volatile.Read(ref sent) >= 20, null, () => $"only {sent} requests were sent during the rotation");
        await stop.CancelAsync();
        await load;
        Assert.Empty(failures);
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task A_request_for_another_tenants_host_on_a_connection_opened_for_this_tenant_is_421_and_not_routed(string version)
    {
        var (a, zoneA, backendA) = await ServiceAsync("ma");
        var (_, zoneB, backendB) = await ServiceAsync("mb");
        await using var _ = backendA;
        await using var __ = backendB;
        await Worker.WaitForRevisionAsync(await UploadAsync(a, "wild", TestCertificates.Issue([$"*.{zoneA}"])));

        // Every connection is opened with SNI www.zoneA, whatever host the request names.
        var port = new Uri(HttpsUrl).Port;
        using var client = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var tcp = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
                await tcp.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                var tls = new System.Net.Security.SslStream(new System.Net.Sockets.NetworkStream(tcp, ownsSocket: true));
                await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
                {
                    TargetHost = $"www.{zoneA}",
                    ApplicationProtocols = [context.InitialRequestMessage.Version.Major == 2 ? System.Net.Security.SslApplicationProtocol.Http2 : System.Net.Security.SslApplicationProtocol.Http11],
                    RemoteCertificateValidationCallback = (_, _, _, _) => true,
                }, cancellationToken);
                return tls;
            },
        })
        {
            DefaultRequestVersion = Version.Parse(version),
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        using (var own = await client.GetAsync($"https://api.{zoneA}/same-tenant", Cancel))
        {
            var body = await own.Content.ReadAsStringAsync(Cancel);
            Assert.True(own.StatusCode == HttpStatusCode.OK, $"{(int)own.StatusCode}: {body}");
        }
        using var misdirected = await client.GetAsync($"https://www.{zoneB}/other-tenant", Cancel);
        var problem = await misdirected.Content.ReadAsStringAsync(Cancel);
        Assert.True(misdirected.StatusCode == HttpStatusCode.MisdirectedRequest, $"{(int)misdirected.StatusCode}: {problem}");
        Assert.Equal("application/problem+json", misdirected.Content.Headers.ContentType?.MediaType);
        Assert.EndsWith("/misdirected-request", JsonDocument.Parse(problem).RootElement.GetProperty("type").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, backendB.Requests);
    }
}
