using System.Net;
using System.Text.Json.Nodes;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Certificates;

/// <summary>
/// ACME against a real server (issue 21, part 3): Debian's pebble validates HTTP-01 against the worker's
/// proxy port (validation on), the control plane stores and distributes what it issues, renews it, and
/// shows a failed order on the certificate's GET with the ACME error and the next attempt.
/// </summary>
public sealed class AcmeTests
{
    // Certificates live a minute; renewal at a third of that keeps the test short without a special path.
    private static readonly TimeSpan Validity = TimeSpan.FromSeconds(60);

    private static async Task<(Platform Platform, PebbleServer Pebble)> StartAsync(string name)
    {
        Assert.True(PebbleServer.IsInstalled, "pebble is not installed: apt-get install pebble");
        var pebble = PebbleServer.Reserve();
        var platform = await Platform.StartAsync(name, workers: 1, silos: 1,
            $"--Acme:DirectoryUrl={pebble.DirectoryUrl}", $"--Acme:TrustedCaFile={pebble.CaFile}",
            "--Acme:CheckSeconds=1", "--Acme:RetrySeconds=2", "--Acme:RenewAtFraction=0.33");
        await pebble.StartAsync(new Uri(platform.Workers[0].ProxyUrl).Port, Validity);
        return (platform, pebble);
    }

    [Fact]
    public async Task A_certificate_ordered_over_ACME_is_validated_against_the_worker_stored_distributed_and_renewed()
    {
        var (platform, pebble) = await StartAsync("acme");
        await using var _ = platform;
        await using var __ = pebble;
        var zone = "shop.example.com";
        var tenant = await platform.PutOkAsync("/v1/tenants/shop", new { hostnames = new[] { zone, $"*.{zone}" } });
        Assert.True(tenant > 0);

        using (var put = await platform.PutAsync("/v1/tenants/shop/certificates/site", new { acme = new { hosts = new[] { $"www.{zone}", zone } } }))
        {
            var body = await put.Content.ReadAsStringAsync();
            Assert.True(put.StatusCode == HttpStatusCode.Created, $"{(int)put.StatusCode}: {body}");
            Assert.Equal([$"www.{zone}", zone], JsonNode.Parse(body)!["acme"]!["hosts"]!.AsArray().Select(h => h!.GetValue<string>()));
        }

        var issued = await Eventually.Async(() => GetAsync(platform, "/v1/tenants/shop/certificates/site"),
            c => c?["fingerprint"] is not null, TimeSpan.FromMinutes(3),
            c => $"no certificate yet: {c?.ToJsonString()}\n--- control plane ---\n{platform.Silos[0].Process.Output}\n--- pebble ---\n{pebble.Output}");
        Assert.Equal([$"www.{zone}", zone], issued!["names"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("valid", issued["acme"]!["state"]!.GetValue<string>());
        var notAfter = issued["notAfter"]!.GetValue<DateTimeOffset>();
        Assert.True(notAfter > DateTimeOffset.UtcNow);
        Assert.True(issued["acme"]!["renewAt"]!.GetValue<DateTimeOffset>() < notAfter);
        Assert.Contains("Pebble", issued["issuer"]!.GetValue<string>(), StringComparison.OrdinalIgnoreCase);
        // Pebble validated over HTTP against the worker's proxy port: nothing else listens there.
        Assert.Contains($"www.{zone}", pebble.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", issued.ToJsonString(), StringComparison.Ordinal);

        // The challenges are gone from the workers once the order ended.
        var revision = long.Parse(issued["revision"]!.ToString(), System.Globalization.CultureInfo.InvariantCulture);
        await platform.Workers[0].WaitForRevisionAsync(revision);
        using (var challenge = await platform.Workers[0].GetAsync($"www.{zone}", "/.well-known/acme-challenge/anything"))
            Assert.NotEqual(HttpStatusCode.OK, challenge.StatusCode);

        var renewed = await Eventually.Async(() => GetAsync(platform, "/v1/tenants/shop/certificates/site"),
            c => c?["fingerprint"]?.GetValue<string>() is { } f && f != issued["fingerprint"]!.GetValue<string>(), TimeSpan.FromMinutes(3),
            c => $"not renewed: {c?.ToJsonString()}\n--- control plane ---\n{platform.Silos[0].Process.Output}");
        Assert.True(renewed!["notAfter"]!.GetValue<DateTimeOffset>() > notAfter);
        Assert.Equal([$"www.{zone}", zone], renewed["names"]!.AsArray().Select(n => n!.GetValue<string>()));

        // Neither the certificates' keys nor the ACME account key are anywhere in the database in clear.
        await using var db = Npgsql.NpgsqlDataSource.Create(platform.ConnectionString);
        foreach (var table in new[] { "config_resources", "grain_state" })
        {
            await using var dump = db.CreateCommand($"SELECT string_agg(t::text, E'\\n') FROM {table} t");
            var text = (string)(await dump.ExecuteScalarAsync())!;
            Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
            Assert.DoesNotContain("BEGIN EC", text, StringComparison.Ordinal);
        }
        await using (var account = db.CreateCommand("SELECT count(*) FROM grain_state WHERE state::text LIKE '%pp-sealed:v1:test:%'"))
            Assert.True((long)(await account.ExecuteScalarAsync())! >= 1, "the ACME account key is not sealed in grain_state");
    }

    [Fact]
    public async Task An_order_whose_challenge_no_worker_serves_fails_visibly_with_the_ACME_error_and_the_next_attempt()
    {
        var (platform, pebble) = await StartAsync("acmefail");
        await using var _ = platform;
        await using var __ = pebble;
        // A pool without workers: its challenges reach no worker, and pebble asks the default pool's worker.
        await platform.PutOkAsync("/v1/pools/empty", new { });
        await platform.PutOkAsync("/v1/tenants/lost", new { hostnames = new[] { "lost.example.com" }, pool = "empty" });

        await platform.PutOkAsync("/v1/tenants/lost/certificates/site", new { acme = new { hosts = new[] { "lost.example.com" } } });

        var failed = await Eventually.Async(() => GetAsync(platform, "/v1/tenants/lost/certificates/site"),
            c => c?["acme"]?["state"]?.GetValue<string>() == "failed", TimeSpan.FromMinutes(3),
            c => $"not failed: {c?.ToJsonString()}\n--- control plane ---\n{platform.Silos[0].Process.Output}");
        Assert.Contains("urn:ietf:params:acme:error:", failed!["acme"]!["lastError"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.True(failed["acme"]!["nextAttemptAt"]!.GetValue<DateTimeOffset>() > failed["acme"]!["lastErrorAt"]!.GetValue<DateTimeOffset>());
        Assert.Null(failed["fingerprint"]);
        var listed = await GetAsync(platform, "/v1/tenants/lost/certificates");
        Assert.Equal("failed", listed!["items"]!.AsArray().Single()!["acme"]!["state"]!.GetValue<string>());

        // Wildcards cannot be proven over HTTP-01, and hosts outside the tenant's claims are refused.
        using var wildcard = await platform.PutAsync("/v1/tenants/lost/certificates/w", new { acme = new { hosts = new[] { "*.lost.example.com" } } });
        Assert.Equal(HttpStatusCode.BadRequest, wildcard.StatusCode);
        Assert.Contains("acme.hosts[0]", await wildcard.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var foreign = await platform.PutAsync("/v1/tenants/lost/certificates/f", new { acme = new { hosts = new[] { "other.example.com" } } });
        Assert.Equal(HttpStatusCode.BadRequest, foreign.StatusCode);
        Assert.Contains("acme.hosts", await foreign.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Deleting the tenant ends the order: a tenant of that name starts without it.
        await platform.Silos[0].DeleteOkAsync("/v1/tenants/lost");
        await platform.PutOkAsync("/v1/tenants/lost", new { hostnames = new[] { "lost.example.com" } });
        using var gone = await platform.Admin.GetAsync("/v1/tenants/lost/certificates/site");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    private static async Task<JsonNode?> GetAsync(Platform platform, string path)
    {
        using var response = await platform.Admin.GetAsync(path);
        return response.IsSuccessStatusCode ? JsonNode.Parse(await response.Content.ReadAsStringAsync()) : null;
    }
}
