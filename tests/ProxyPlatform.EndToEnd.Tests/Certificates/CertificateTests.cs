using System.Net;
using System.Text.Json.Nodes;
using Npgsql;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.EndToEnd.Tests.Certificates;

/// <summary>
/// Certificates as tenant resources (issue 21, part 1): validated on write, answered with their facts and
/// never their key, which is sealed in PostgreSQL, absent from logs, and distributed to the pool's workers.
/// </summary>
public sealed class CertificateTests(OneWorkerPlatform fixture) : IClassFixture<OneWorkerPlatform>
{
    private Platform Platform => fixture.Platform;

    private async Task<(string Tenant, string Zone)> TenantAsync(string prefix)
    {
        var tenant = $"{prefix}{Guid.NewGuid():N}"[..16];
        var zone = $"{tenant}.test";
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { zone, $"*.{zone}" } });
        return (tenant, zone);
    }

    [Fact]
    public async Task An_uploaded_certificate_is_answered_with_its_facts_and_reaches_the_worker_but_its_key_is_never_shown_logged_or_stored_in_clear()
    {
        var (tenant, zone) = await TenantAsync("c");
        var cert = TestCertificates.Issue([$"www.{zone}", $"*.api.{zone}"]);

        using var put = await Platform.PutAsync($"/v1/tenants/{tenant}/certificates/web?wait=30s", new { certificate = cert.ChainPem, privateKey = cert.KeyPem });
        var putBody = await put.Content.ReadAsStringAsync();
        Assert.True(put.StatusCode == HttpStatusCode.Created, $"{(int)put.StatusCode}: {putBody}");
        Assert.Equal("complete", put.Headers.GetValues("X-Config-Rollout").Single());
        var answer = JsonNode.Parse(putBody)!;
        Assert.Equal([$"www.{zone}", $"*.api.{zone}"], answer["names"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Contains("Intermediate", answer["issuer"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(64, answer["fingerprint"]!.GetValue<string>().Length);
        Assert.True(answer["notAfter"]!.GetValue<DateTimeOffset>() > DateTimeOffset.UtcNow);

        // The same certificate again changes nothing.
        using var again = await Platform.PutAsync($"/v1/tenants/{tenant}/certificates/web", new { certificate = cert.ChainPem, privateKey = cert.KeyPem });
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(put.Headers.GetValues("X-Config-Revision").Single(), again.Headers.GetValues("X-Config-Revision").Single());

        var answers = new List<string> { putBody, await again.Content.ReadAsStringAsync() };
        using (var get = await Platform.Admin.GetAsync($"/v1/tenants/{tenant}/certificates/web"))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            answers.Add(await get.Content.ReadAsStringAsync());
        }
        using (var list = await Platform.Admin.GetAsync($"/v1/tenants/{tenant}/certificates"))
        {
            var body = await list.Content.ReadAsStringAsync();
            Assert.Equal("web", JsonNode.Parse(body)!["items"]!.AsArray().Single()!["id"]!.GetValue<string>());
            answers.Add(body);
        }
        using var channel = AdminGrpc.Channel(Platform);
        var grpc = new AdminPb.Admin.AdminClient(channel);
        var reply = await grpc.GetCertificateAsync(new AdminPb.CertificateRef { Tenant = tenant, Certificate = "web" });
        Assert.Equal(answer["fingerprint"]!.GetValue<string>(), reply.Fingerprint);
        answers.Add(reply.ToString());
        answers.Add((await grpc.ListCertificatesAsync(new AdminPb.ListCertificatesRequest { Tenant = tenant })).ToString());

        foreach (var text in answers)
        {
            Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
            Assert.DoesNotContain(cert.KeyBody[..40], text, StringComparison.Ordinal);
        }
        Assert.DoesNotContain(cert.KeyBody[..40], Platform.Silos[0].Process.Output, StringComparison.Ordinal);

        // A database dump of the configuration holds the chain, and the key only sealed.
        await using var db = NpgsqlDataSource.Create(Platform.ConnectionString);
        await using var rows = db.CreateCommand("SELECT t::text FROM config_resources t");
        var dump = new List<string>();
        await using (var reader = await rows.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
                dump.Add(reader.GetString(0));
        }
        var row = Assert.Single(dump, r => r.Contains(answer["fingerprint"]!.GetValue<string>(), StringComparison.Ordinal));
        Assert.Contains("pp-sealed:v1:test:", row, StringComparison.Ordinal);
        foreach (var line in cert.KeyPem.Split('\n').Where(l => l.Length > 16 && !l.StartsWith("-----", StringComparison.Ordinal)))
            Assert.DoesNotContain(line, string.Join("\n", dump), StringComparison.Ordinal);
        Assert.DoesNotContain(cert.KeyBody[..40], string.Join("\n", dump).Replace("\\n", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_for_a_host_another_tenant_owns_is_refused_naming_the_field()
    {
        var (tenant, zone) = await TenantAsync("m");
        var (_, otherZone) = await TenantAsync("o");
        var cert = TestCertificates.Issue([$"www.{zone}", $"www.{otherZone}"]);

        var problem = await RefusedAsync(tenant, "stolen", new { certificate = cert.ChainPem, privateKey = cert.KeyPem });

        Assert.Equal("certificate", problem.Field);
        Assert.Contains($"www.{otherZone}", problem.Body, StringComparison.Ordinal);
        Assert.DoesNotContain($"'www.{zone}'", problem.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_mismatched_key_an_expired_certificate_and_a_misordered_chain_are_refused_and_store_nothing()
    {
        var (tenant, zone) = await TenantAsync("b");
        var cert = TestCertificates.Issue([$"www.{zone}"]);
        var other = TestCertificates.Issue([$"www.{zone}"]);
        var expired = TestCertificates.Issue([$"www.{zone}"], validFor: TimeSpan.FromHours(1), notBefore: DateTimeOffset.UtcNow.AddDays(-3));

        Assert.Equal("privateKey", (await RefusedAsync(tenant, "bad", new { certificate = cert.ChainPem, privateKey = other.KeyPem })).Field);
        var late = await RefusedAsync(tenant, "bad", new { certificate = expired.ChainPem, privateKey = expired.KeyPem });
        Assert.Equal("certificate[0]", late.Field);
        Assert.Contains("expired", late.Body, StringComparison.Ordinal);
        var order = await RefusedAsync(tenant, "bad", new { certificate = cert.IntermediatePem + cert.LeafPem, privateKey = cert.KeyPem });
        Assert.Equal("certificate[0]", order.Field);
        Assert.Contains("not signed by", order.Body, StringComparison.Ordinal);
        Assert.Equal("certificate", (await RefusedAsync(tenant, "bad", new { })).Field);

        using var absent = await Platform.Admin.GetAsync($"/v1/tenants/{tenant}/certificates/bad");
        Assert.Equal(HttpStatusCode.NotFound, absent.StatusCode);
    }

    [Fact]
    public async Task A_tenants_claims_cannot_shrink_below_its_certificates_and_deleting_the_tenant_deletes_them()
    {
        var (tenant, zone) = await TenantAsync("d");
        var cert = TestCertificates.Issue([$"www.{zone}"]);
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/certificates/web", new { certificate = cert.ChainPem, privateKey = cert.KeyPem });

        using (var shrink = await Platform.PutAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"other.{zone}" } }))
        {
            var body = await shrink.Content.ReadAsStringAsync();
            Assert.True(shrink.StatusCode == HttpStatusCode.Conflict, $"{(int)shrink.StatusCode}: {body}");
            Assert.Contains("certificate 'web'", body, StringComparison.Ordinal);
        }

        var deleted = await Platform.Silos[0].DeleteOkAsync($"/v1/tenants/{tenant}");
        await Platform.Workers[0].WaitForRevisionAsync(deleted);
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { zone } });
        using var gone = await Platform.Admin.GetAsync($"/v1/tenants/{tenant}/certificates/web");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        await using var db = NpgsqlDataSource.Create(Platform.ConnectionString);
        await using var live = db.CreateCommand("SELECT count(*) FROM config_resources WHERE kind = 6 AND tenant = $1 AND spec IS NOT NULL");
        live.Parameters.AddWithValue(tenant);
        Assert.Equal(0L, (long)(await live.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task A_control_plane_without_a_secrets_key_refuses_to_store_a_private_key()
    {
        await using var platform = await Platform.StartAsync("nosecrets", workers: 0, silos: 1, "--Secrets:None=true");
        var tenant = "nokey";
        await platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { "nokey.test" } });
        var cert = TestCertificates.Issue(["nokey.test"]);

        using var refused = await platform.PutAsync($"/v1/tenants/{tenant}/certificates/web", new { certificate = cert.ChainPem, privateKey = cert.KeyPem });
        var body = await refused.Content.ReadAsStringAsync();
        Assert.True(refused.StatusCode == HttpStatusCode.BadRequest, $"{(int)refused.StatusCode}: {body}");
        Assert.Contains("Secrets:Key", body, StringComparison.Ordinal);
        Assert.Equal("privateKey", Field(body));
    }

    private async Task<(string Field, string Body)> RefusedAsync(string tenant, string id, object body)
    {
        using var response = await Platform.PutAsync($"/v1/tenants/{tenant}/certificates/{id}", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return (Field(text), text);
    }

    private static string Field(string problem)
    {
        var node = JsonNode.Parse(problem)!;
        return node["errors"]?.AsArray().FirstOrDefault()?["field"]?.GetValue<string>() ?? node["field"]?.GetValue<string>() ?? "";
    }
}
