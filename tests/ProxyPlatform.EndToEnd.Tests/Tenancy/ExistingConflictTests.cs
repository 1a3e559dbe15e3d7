using System.Net;
using System.Text.Json.Nodes;
using Npgsql;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Tenancy;

/// <summary>
/// Data stored before one owner per host was enforced (DESIGN.md, "Details"): it keeps being served,
/// each conflict is reported at start-up and on the tenant's GET, and writes that touch it are refused
/// until an operator resolves it.
/// </summary>
public sealed class ExistingConflictTests
{
    [Fact]
    public async Task Existing_tenants_that_share_a_host_are_reported_and_kept_not_dropped_until_an_operator_resolves_them()
    {
        await using var backend = await TestBackend.StartAsync("legacy");
        await using var platform = await Platform.StartAsync("legacy", workers: 1);
        await platform.CreateServiceAsync("legacy-a", "a.legacy.test", [backend]);
        await platform.PutOkAsync("/v1/tenants/legacy-b", new { hostnames = new[] { "b.legacy.test" } });
        await platform.PutOkAsync("/v1/tenants/legacy-c", new { hostnames = new[] { "c.legacy.test" } });

        // What an earlier version could store: b claims a's host, c claims none. Written as new
        // revisions of their rows, as that version would have committed them.
        await platform.KillControlPlaneAsync();
        await using (var db = NpgsqlDataSource.Create(platform.ConnectionString))
        {
            await using var rewrite = db.CreateCommand("""
                UPDATE config_resources SET spec = $2::jsonb, revision = nextval('config_revision')
                WHERE kind = 1 AND tenant = $1 AND id = $1
                """);
            foreach (var (tenant, spec) in new[] { ("legacy-b", """{"hostnames":["a.legacy.test"],"pool":"default"}"""), ("legacy-c", """{"hostnames":[],"pool":"default"}""") })
            {
                rewrite.Parameters.Clear();
                rewrite.Parameters.AddWithValue(tenant);
                rewrite.Parameters.AddWithValue(spec);
                Assert.Equal(1, await rewrite.ExecuteNonQueryAsync());
            }
        }
        await platform.StartControlPlaneAsync();

        // Reported at start-up and on each tenant's GET; nothing dropped.
        await Eventually.Async(() => platform.Silos[0].Process.Output.Contains("Host ownership conflict", StringComparison.Ordinal), null,
            () => $"no conflict was logged at start-up:\n{platform.Silos[0].Process.Output}");
        var a = JsonNode.Parse(await platform.Admin.GetStringAsync("/v1/tenants/legacy-a"))!;
        Assert.Contains(a["conflicts"]!.AsArray(), c => c!.GetValue<string>().Contains("legacy-b", StringComparison.Ordinal));
        var c = JsonNode.Parse(await platform.Admin.GetStringAsync("/v1/tenants/legacy-c"))!;
        Assert.Contains(c["conflicts"]!.AsArray(), x => x!.GetValue<string>().Contains("no host", StringComparison.Ordinal));
        Assert.Equal("a.legacy.test", JsonNode.Parse(await platform.Admin.GetStringAsync("/v1/tenants/legacy-b"))!["hostnames"]![0]!.GetValue<string>());
        (await platform.Workers[0].WaitForStatusAsync("a.legacy.test", "/", 200)).Dispose();

        // A write that touches the shared host is refused, naming the other tenant.
        using (var touch = await platform.PutAsync("/v1/tenants/legacy-a/routes/more", new { match = new { pathPrefix = "/more" }, cluster = "web" }))
        {
            Assert.Equal(HttpStatusCode.Conflict, touch.StatusCode);
            Assert.Contains("legacy-b", await touch.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var keep = await platform.PutAsync("/v1/tenants/legacy-b", new { displayName = "still sharing", hostnames = new[] { "a.legacy.test" } }))
            Assert.Equal(HttpStatusCode.Conflict, keep.StatusCode);

        // The operator gives the host back to one tenant: the conflict is gone and writes flow again.
        await platform.PutOkAsync("/v1/tenants/legacy-b", new { hostnames = new[] { "b.legacy.test" } });
        var resolved = JsonNode.Parse(await platform.Admin.GetStringAsync("/v1/tenants/legacy-a"))!;
        Assert.Empty(resolved["conflicts"]!.AsArray());
        await platform.PutOkAsync("/v1/tenants/legacy-a/routes/more", new { match = new { pathPrefix = "/more" }, cluster = "web" });
    }
}
