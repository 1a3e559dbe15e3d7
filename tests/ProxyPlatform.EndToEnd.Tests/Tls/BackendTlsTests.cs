using System.Net;
using System.Text.Json.Nodes;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Tls;

/// <summary>
/// TLS to backends (issue 21, part 4): an <c>https://</c> backend verified against the cluster's CA and for
/// its server name works; one the worker cannot verify is a 502 problem+json that says why.
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
}
