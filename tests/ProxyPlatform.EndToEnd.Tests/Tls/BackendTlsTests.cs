using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.EndToEnd.Tests.Tls;

/// <summary>
/// TLS to backends (issue 21, part 4): an <c>https://</c> backend verified against the cluster's CA and for
/// its server name works; one the worker cannot verify is a 502 problem+json that says why; the server name is
/// sent as SNI; a client certificate of the tenant's is presented to a backend that requires one; health probes
/// connect under the same settings; <c>insecureSkipVerify</c> is accepted with a warning.
/// </summary>
public sealed class BackendTlsTests(OneWorkerPlatform fixture) : IClassFixture<OneWorkerPlatform>
{
    private Platform Platform => fixture.Platform;
    private Worker Worker => Platform.Workers[0];
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_https_backend_is_verified_against_the_clusters_CA_and_name_and_a_wrong_certificate_is_a_502_saying_why()
    {
        var tenant = $"b{Guid.NewGuid():N}"[..16];
        var certificate = TestCertificates.Issue(["localhost", "backend.internal"]);
        var stranger = TestCertificates.Issue(["localhost"]);
        await using var backend = await TestBackend.StartAsync(tenant, certificate);
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"*.{tenant}.test" } });
        var byName = $"https://localhost:{backend.Port}";
        var byAddress = backend.Address;
        var clusters = new (string Id, string Address, object? Tls, bool Works)[]
        {
            ("ca", byName, new { caPem = certificate.RootPem }, true),
            ("name", byAddress, new { caPem = certificate.RootPem, serverName = "backend.internal" }, true),
            ("skip", byAddress, new { insecureSkipVerify = true }, true),
            ("system", byName, null, false),
            ("other-ca", byName, new { caPem = stranger.RootPem }, false),
            ("wrong-name", byAddress, new { caPem = certificate.RootPem, serverName = "elsewhere.internal" }, false),
        };
        long revision = 0;
        foreach (var (id, address, tls, _) in clusters)
        {
            await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/{id}", tls is null ? new { } : new { tls });
            await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/{id}/backends/a", new { address });
            revision = await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/{id}", new { match = new { hosts = new[] { $"{id}.{tenant}.test" } }, cluster = id });
        }
        await Worker.WaitForRevisionAsync(revision);

        foreach (var (id, _, _, works) in clusters)
        {
            using var response = await Worker.GetAsync($"{id}.{tenant}.test", "/tls");
            var body = await response.Content.ReadAsStringAsync(Cancel);
            if (works)
            {
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{id}: {(int)response.StatusCode} {body}");
                continue;
            }
            Assert.True(response.StatusCode == HttpStatusCode.BadGateway, $"{id}: {(int)response.StatusCode} {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = JsonNode.Parse(body)!;
            Assert.EndsWith("/backend-tls", problem["type"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Contains("certificate", problem["detail"]!.GetValue<string>(), StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task A_cluster_tls_setting_that_cannot_work_is_refused_naming_the_field()
    {
        var tenant = $"v{Guid.NewGuid():N}"[..16];
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"{tenant}.test" } });
        foreach (var (tls, field) in new (object, string)[]
        {
            (new { caPem = "not a certificate" }, "tls.caPem"),
            (new { serverName = "Not A Host!" }, "tls.serverName"),
            (new { caPem = TestCertificates.Issue(["x.test"]).RootPem, insecureSkipVerify = true }, "tls.insecureSkipVerify"),
        })
        {
            using var response = await Platform.PutAsync($"/v1/tenants/{tenant}/clusters/c", new { tls });
            var body = await response.Content.ReadAsStringAsync(Cancel);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{field}: {(int)response.StatusCode} {body}");
            Assert.Contains(field, body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_clusters_client_certificate_is_presented_to_a_backend_that_requires_one_and_without_it_the_answer_is_a_502_backend_tls()
    {
        var tenant = $"m{Guid.NewGuid():N}"[..16];
        var server = TestCertificates.Issue(["localhost"]);
        var client = TestCertificates.Issue([$"client.{tenant}.test"], clientAuth: true);
        await using var backend = await TestBackend.StartAsync(tenant, server, clientCaPem: client.RootPem);
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"*.{tenant}.test" } });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/certificates/client", new { certificate = client.ChainPem, privateKey = client.KeyPem });
        long revision = 0;
        foreach (var (id, tls) in new (string, object)[]
        {
            ("with", new { caPem = server.RootPem, clientCertificate = "client" }),
            ("without", new { caPem = server.RootPem }),
        })
        {
            await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/{id}", new { tls });
            await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/{id}/backends/a", new { address = $"https://localhost:{backend.Port}" });
            revision = await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/{id}", new { match = new { hosts = new[] { $"{id}.{tenant}.test" } }, cluster = id });
        }
        await Worker.WaitForRevisionAsync(revision);

        var echo = await Worker.EchoAsync($"with.{tenant}.test", "/mtls");
        Assert.Equal($"CN=client.{tenant}.test", echo.ClientCertificate);

        using var refused = await Worker.GetAsync($"without.{tenant}.test", "/mtls");
        var body = await refused.Content.ReadAsStringAsync(Cancel);
        Assert.True(refused.StatusCode == HttpStatusCode.BadGateway, $"{(int)refused.StatusCode} {body}");
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.EndsWith("/backend-tls", JsonNode.Parse(body)!["type"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_certificate_must_be_one_of_the_tenants_own_and_stays_while_a_cluster_presents_it()
    {
        var tenant = $"k{Guid.NewGuid():N}"[..16];
        var other = $"o{Guid.NewGuid():N}"[..16];
        var client = TestCertificates.Issue([$"client.{other}.test"], clientAuth: true);
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"*.{tenant}.test" } });
        await Platform.PutOkAsync($"/v1/tenants/{other}", new { hostnames = new[] { $"*.{other}.test" } });
        await Platform.PutOkAsync($"/v1/tenants/{other}/certificates/client", new { certificate = client.ChainPem, privateKey = client.KeyPem });

        // Another tenant's certificate, a missing one and a malformed ID are all refused, naming the field, and store nothing.
        foreach (var id in new[] { "client", "missing", "Not An ID" })
        {
            using var response = await Platform.PutAsync($"/v1/tenants/{tenant}/clusters/c", new { tls = new { clientCertificate = id } });
            var body = await response.Content.ReadAsStringAsync(Cancel);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{id}: {(int)response.StatusCode} {body}");
            Assert.Contains("tls.clientCertificate", body, StringComparison.Ordinal);
            using var absent = await Platform.Admin.GetAsync($"/v1/tenants/{tenant}/clusters/c", Cancel);
            Assert.Equal(HttpStatusCode.NotFound, absent.StatusCode);
        }

        // The owner's cluster may use it, and then the certificate cannot be deleted from under it.
        await Platform.PutOkAsync($"/v1/tenants/{other}/clusters/c", new { tls = new { clientCertificate = "client" } });
        using (var conflict = await Platform.Admin.DeleteAsync($"/v1/tenants/{other}/certificates/client", Cancel))
        {
            var body = await conflict.Content.ReadAsStringAsync(Cancel);
            Assert.True(conflict.StatusCode == HttpStatusCode.Conflict, $"{(int)conflict.StatusCode} {body}");
            Assert.Contains("tls.clientCertificate", body, StringComparison.Ordinal);
        }
        await Platform.PutOkAsync($"/v1/tenants/{other}/clusters/c", new { });
        await Platform.Silos[0].DeleteOkAsync($"/v1/tenants/{other}/certificates/client");
    }

    [Fact]
    public async Task The_clusters_server_name_is_sent_as_SNI_and_without_one_the_address_host_is()
    {
        var tenant = $"s{Guid.NewGuid():N}"[..16];
        var certificate = TestCertificates.Issue(["localhost", "backend.internal"]);
        await using var backend = await TestBackend.StartAsync(tenant, certificate);
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"*.{tenant}.test" } });
        long revision = 0;
        foreach (var (id, address, tls) in new (string, string, object)[]
        {
            ("named", backend.Address, new { caPem = certificate.RootPem, serverName = "backend.internal" }),
            ("by-host", $"https://localhost:{backend.Port}", new { caPem = certificate.RootPem }),
        })
        {
            await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/{id}", new { tls });
            await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/{id}/backends/a", new { address });
            revision = await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/{id}", new { match = new { hosts = new[] { $"{id}.{tenant}.test" } }, cluster = id });
        }
        await Worker.WaitForRevisionAsync(revision);

        Assert.Equal("backend.internal", (await Worker.EchoAsync($"named.{tenant}.test", "/sni")).Sni);
        Assert.Equal("localhost", (await Worker.EchoAsync($"by-host.{tenant}.test", "/sni")).Sni);
    }

    [Fact]
    public async Task An_https_backend_with_a_private_CA_is_probed_healthy_under_the_clusters_tls()
    {
        var tenant = $"h{Guid.NewGuid():N}"[..16];
        var server = TestCertificates.Issue(["backend.internal"]);
        var client = TestCertificates.Issue([$"client.{tenant}.test"], clientAuth: true);
        await using var backend = await TestBackend.StartAsync(tenant, server, clientCaPem: client.RootPem);
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"*.{tenant}.test" } });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/certificates/client", new { certificate = client.ChainPem, privateKey = client.KeyPem });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web", new
        {
            tls = new { caPem = server.RootPem, serverName = "backend.internal", clientCertificate = "client" },
            healthCheck = new { path = "/healthz", intervalSeconds = 2, timeoutSeconds = 2 },
        });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/a", new { address = backend.Address });

        var verdict = await Eventually.Async(
            async () => JsonDocument.Parse(await Platform.Admin.GetStringAsync($"/v1/tenants/{tenant}/clusters/web/backends/a", Cancel)).RootElement.Clone(),
            b => b.GetProperty("health").GetProperty("verdict").GetString() == "Healthy",
            TimeSpan.FromSeconds(60),
            b => $"the backend was never probed healthy: {b}");
        Assert.All(verdict.GetProperty("health").GetProperty("workers").EnumerateArray(), w => Assert.Equal("passing", w.GetProperty("view").GetString()));
    }

    [Fact]
    public async Task Insecure_skip_verify_is_accepted_with_a_warning_on_both_APIs()
    {
        var tenant = $"w{Guid.NewGuid():N}"[..16];
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"*.{tenant}.test" } });

        using var response = await Platform.PutAsync($"/v1/tenants/{tenant}/clusters/c", new { tls = new { insecureSkipVerify = true } });
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode} {body}");
        var warning = Assert.Single(response.Headers.GetValues("Warning"));
        Assert.StartsWith("299 - \"tls.insecureSkipVerify: ", warning, StringComparison.Ordinal);
        var warnings = JsonNode.Parse(body)!["warnings"]!.AsArray();
        Assert.Equal("tls.insecureSkipVerify", Assert.Single(warnings)!["field"]!.GetValue<string>());

        using var quiet = await Platform.PutAsync($"/v1/tenants/{tenant}/clusters/d", new { tls = new { serverName = "backend.internal" } });
        Assert.False(quiet.Headers.Contains("Warning"));
        Assert.Null(JsonNode.Parse(await quiet.Content.ReadAsStringAsync(Cancel))!["warnings"]);

        using var channel = AdminGrpc.Channel(Platform);
        var reply = await new AdminPb.Admin.AdminClient(channel).PutClusterAsync(new AdminPb.PutClusterRequest
        {
            Tenant = tenant,
            Cluster = "g",
            Spec = new AdminPb.ClusterSpec { Tls = new AdminPb.BackendTls { InsecureSkipVerify = true } },
        }, cancellationToken: Cancel);
        Assert.StartsWith("tls.insecureSkipVerify: ", Assert.Single(reply.Warnings), StringComparison.Ordinal);

        await Eventually.Async(() => Task.FromResult(Platform.Silos[0].Process.Output), o => o.Contains($"Cluster {tenant}/c written", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), _ => "the control plane logged no warning for the cluster");
    }
}
