using System.Net;
using System.Text.Json.Nodes;
using Npgsql;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Documents;

/// <summary>History is kept for <c>History:RetentionDays</c>: past it, rows nothing needs are pruned and the revision is refused.</summary>
public sealed class ConfigHistoryRetentionTests
{
    [Fact]
    public async Task History_past_its_retention_is_pruned_and_its_revisions_are_refused()
    {
        // 0.0001 days is under nine seconds; pruning every second.
        await using var platform = await Platform.StartAsync("historyretention", workers: 0, silos: 1, "--History:RetentionDays=0.0001", "--History:PruneEverySeconds=1");
        await platform.PutTenantAsync("aging", "aging.test");
        await platform.PutOkAsync("/v1/tenants/aging/clusters/web", new { });
        var old = await platform.PutOkAsync("/v1/tenants/aging/routes/main", new { match = new { pathPrefix = "/" }, cluster = "web" });
        await platform.PutOkAsync("/v1/tenants/aging/routes/main", new { match = new { pathPrefix = "/v2" }, cluster = "web" });
        await platform.PutOkAsync("/v1/tenants/aging/routes/gone", new { match = new { pathPrefix = "/gone" }, cluster = "web" });
        await platform.Silos[0].DeleteOkAsync("/v1/tenants/aging/routes/gone");

        using (var recent = await platform.Admin.GetAsync($"/v1/tenants/aging/config?revision={old}"))
            Assert.Equal(HttpStatusCode.OK, recent.StatusCode);

        await Eventually.Async(async () =>
        {
            using var response = await platform.Admin.GetAsync($"/v1/tenants/aging/config?revision={old}");
            return (Status: response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }, r => r.Status == HttpStatusCode.NotFound, null, r => $"revision {old} still answers {(int)r.Status} {r.Body}");
        using (var refused = await platform.Admin.GetAsync($"/v1/tenants/aging/config?revision={old}"))
            Assert.Equal("revision", JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["field"]!.GetValue<string>());

        // What is left is each live resource's newest row: superseded versions and removals are gone.
        await Eventually.Async(async () => await RowsAsync(platform), rows => rows == "cluster/web, route/main", null, rows => $"history holds {rows}");
        var document = JsonNode.Parse(await platform.Admin.GetStringAsync("/v1/tenants/aging/config"))!;
        Assert.Equal("/v2", document["routes"]!["main"]!["match"]!["pathPrefix"]!.GetValue<string>());
    }

    private static async Task<string> RowsAsync(Platform platform)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT coalesce(string_agg(CASE kind WHEN 2 THEN 'cluster/' ELSE 'route/' END || id, ', ' ORDER BY kind, id, revision), '')
            FROM config_history WHERE tenant = 'aging'
            """, connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }
}
