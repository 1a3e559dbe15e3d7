using System.Globalization;
using System.Net;
using Npgsql;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests;

/// <summary>
/// What the control plane keeps does not grow forever: tombstones of removed resources are pruned
/// once every connected worker has applied past them, and the records of workers long gone expire.
/// </summary>
public sealed class BoundedStateTests
{
    /// <summary>Prune at once (no grace) and often; a worker silent for 3 s counts as gone.</summary>
    private static readonly string[] PruneEagerly =
        ["--Distribution:TombstoneGrace=00:00:00", "--Distribution:PruneEvery=00:00:00.2", "--DataPlanes:SilenceSeconds=3"];

    [Fact]
    public async Task Tombstones_return_to_their_floor_once_every_connected_worker_has_applied_the_deletes()
    {
        await using var backend = await TestBackend.StartAsync("prune");
        await using var platform = await Platform.StartAsync("prune", workers: 0, silos: 1, PruneEagerly);
        var workers = new[]
        {
            await platform.StartWorkerAsync("prune-1", 0, "--ControlPlane:HeartbeatSeconds=0.5"),
            await platform.StartWorkerAsync("prune-2", 0, "--ControlPlane:HeartbeatSeconds=0.5"),
        };
        await platform.CreateServiceAsync("prune", "prune.test", [backend], "/keep");
        long last = 0;
        for (var i = 0; i < 10; i++)
            last = await platform.PutOkAsync($"/v1/tenants/prune/routes/r{i}", new { match = new { pathPrefix = $"/r{i}" }, cluster = "web" });
        foreach (var worker in workers)
            await worker.WaitForRevisionAsync(last);
        // Nothing was ever removed: the gauges are there, and at zero.
        var floor = await TombstonesAsync(platform, "default");
        Assert.Equal((0d, 0d, 0L), floor);

        for (var i = 0; i < 10; i++)
            last = await platform.Silos[0].DeleteOkAsync($"/v1/tenants/prune/routes/r{i}");
        foreach (var worker in workers)
        {
            await worker.WaitForRevisionAsync(last);
            (await worker.WaitForStatusAsync("prune.test", "/r3", 404)).Dispose();
        }

        await Eventually.Async(() => TombstonesAsync(platform, "default"), t => t == floor, null,
            t => $"tombstones (grain, feed, rows) are {t}, not back at {floor}\n{platform.Silos[0].Process.Output}");
        (await workers[0].WaitForStatusAsync("prune.test", "/keep", 200)).Dispose();
    }

    [Fact]
    public async Task Worker_that_returns_from_before_the_pruned_tombstones_gets_a_snapshot_and_drops_the_deleted_routes()
    {
        await using var backend = await TestBackend.StartAsync("behind");
        await using var platform = await Platform.StartAsync("behind", workers: 0, silos: 1, PruneEagerly);
        var worker = await platform.StartWorkerAsync("behind", 0, "--ControlPlane:HeartbeatSeconds=0.5");
        await platform.CreateServiceAsync("behind", "behind.test", [backend], "/keep");
        for (var i = 0; i < 4; i++)
            await platform.PutOkAsync($"/v1/tenants/behind/routes/gone{i}", new { match = new { pathPrefix = $"/gone{i}" }, cluster = "web" });
        // ?wait= answers once the worker has ACKed, and it ACKs only what it has saved as last-known-good.
        using (var acked = await platform.PutAsync("/v1/tenants/behind/routes/gone4?wait=30s", new { match = new { pathPrefix = "/gone4" }, cluster = "web" }))
            Assert.Equal(HttpStatusCode.Created, acked.StatusCode);
        (await worker.WaitForStatusAsync("behind.test", "/gone4", 200)).Dispose();
        await worker.KillAsync();

        long last = 0;
        for (var i = 0; i < 5; i++)
            last = await platform.Silos[0].DeleteOkAsync($"/v1/tenants/behind/routes/gone{i}");
        // No worker is connected: everything is pruned, in memory and in PostgreSQL.
        await Eventually.Async(() => TombstonesAsync(platform, "default"), t => t == (0, 0, 0), null,
            t => $"tombstones (grain, feed, rows) are {t}\n{platform.Silos[0].Process.Output}");

        // The worker comes back serving its last-known-good configuration, from before the removals.
        await worker.StartAsync();
        var stats = await worker.WaitForRevisionAsync(last);
        Assert.Equal(0, stats.LastUpdate!.BaseRevision);
        for (var i = 0; i < 5; i++)
            (await worker.WaitForStatusAsync("behind.test", $"/gone{i}", 404)).Dispose();
        (await worker.WaitForStatusAsync("behind.test", "/keep", 200)).Dispose();
    }

    [Fact]
    public async Task Worker_gone_past_the_expiry_leaves_the_dataplane_list_and_its_rows_are_deleted()
    {
        await using var platform = await Platform.StartAsync("expiry", workers: 0, silos: 1, "--DataPlanes:ExpireAfter=00:00:02", "--DataPlanes:SilenceSeconds=10");
        var leaving = await platform.StartWorkerAsync("leaving", 0, "--ControlPlane:HeartbeatSeconds=0.5");
        await platform.StartWorkerAsync("staying", 0, "--ControlPlane:HeartbeatSeconds=0.5");
        await Eventually.Async(() => ListedAsync(platform), listed => listed.SetEquals(["leaving", "staying"]), null,
            listed => $"both workers are listed; listed: {string.Join(", ", listed)}");

        await leaving.KillAsync();

        await Eventually.Async(async () => (await ListedAsync(platform)).SetEquals(["staying"]) && await RowsAsync(platform, "leaving") == 0, null,
            () => $"the record of the worker that left is still there\n{platform.Silos[0].Process.Output}");
        // A connected worker never expires, however long it has been connected.
        Assert.Equal(1, await RowsAsync(platform, "staying"));

        // One that comes back is registered anew.
        await leaving.StartAsync();
        await Eventually.Async(async () => (await ListedAsync(platform)).SetEquals(["leaving", "staying"]), null, () => "the returning worker is listed again");
    }

    [Fact]
    public async Task Deleted_routes_and_backends_leave_the_tenants_metrics_and_the_verdicts_and_their_history()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await using var platform = await Platform.StartAsync("forget", workers: 0);
        var worker = await platform.StartWorkerAsync("forget", 0, "--DataPlane:MetricsIntervalSeconds=0.2");
        await platform.PutOkAsync("/v1/tenants/forget", new { hostnames = new[] { "forget.test" } });
        await platform.PutOkAsync("/v1/tenants/forget/clusters/web", new
        {
            healthCheck = new { path = "/", intervalSeconds = 0.4, timeoutSeconds = 0.4, healthyThreshold = 1, unhealthyThreshold = 2 },
        });
        await platform.PutOkAsync("/v1/tenants/forget/clusters/web/backends/a", new { address = a.Address });
        await platform.PutOkAsync("/v1/tenants/forget/clusters/web/backends/b", new { address = b.Address });
        await platform.PutOkAsync("/v1/tenants/forget/routes/api", new { match = new { pathPrefix = "/api" }, cluster = "web" });
        await worker.WaitForRevisionAsync(await platform.PutOkAsync("/v1/tenants/forget/routes/site", new { match = new { pathPrefix = "/" }, cluster = "web" }));
        for (var i = 0; i < 6; i++)
        {
            await worker.EchoAsync("forget.test", "/api/x");
            await worker.EchoAsync("forget.test", "/x");
        }
        await Eventually.Async(async () =>
        {
            var (routes, backends) = await TrafficAsync(platform, "forget");
            // Every request reported before the deletes: a report of the removed route after them is ignored.
            return routes.SetEquals(["api", "site"]) && backends.SetEquals(["a", "b"]) && await TotalRequestsAsync(platform, "forget") >= 12
                && await HistoryRowsAsync(platform, "a") > 0 && (await VerdictsAsync(platform)).Contains("\"a\"", StringComparison.Ordinal);
        }, null, () => "traffic and verdicts of both routes and backends are recorded");

        await platform.Silos[0].DeleteOkAsync("/v1/tenants/forget/routes/api");
        await worker.WaitForRevisionAsync(await platform.Silos[0].DeleteOkAsync("/v1/tenants/forget/clusters/web/backends/a"));
        for (var i = 0; i < 3; i++)
            await worker.EchoAsync("forget.test", "/x");

        await Eventually.Async(async () => await TrafficAsync(platform, "forget"), t => t.Routes.SetEquals(["site"]) && t.Backends.SetEquals(["b"]), null,
            t => $"the tenant's metrics still show routes {string.Join(", ", t.Routes)} and backends {string.Join(", ", t.Backends)}");
        await Eventually.Async(async () => await HistoryRowsAsync(platform, "a") == 0 && !(await VerdictsAsync(platform)).Contains("\"a\"", StringComparison.Ordinal), null,
            () => "the removed backend's verdict or history is still there");
        // The removed route's requests still count in the tenant's totals.
        await Eventually.Async(async () => await TotalRequestsAsync(platform, "forget"), total => total >= 15, null,
            total => $"the tenant's totals count {total} requests, not the 15 sent");
    }

    private static async Task<long> TotalRequestsAsync(Platform platform, string tenant)
    {
        using var report = System.Text.Json.JsonDocument.Parse(await platform.Admin.GetStringAsync($"/v1/tenants/{tenant}/metrics"));
        return report.RootElement.GetProperty("totals").GetProperty("requests").GetInt64();
    }

    private static async Task<(HashSet<string> Routes, HashSet<string> Backends)> TrafficAsync(Platform platform, string tenant)
    {
        using var report = System.Text.Json.JsonDocument.Parse(await platform.Admin.GetStringAsync($"/v1/tenants/{tenant}/metrics"));
        return ([.. report.RootElement.GetProperty("routes").EnumerateArray().Select(r => r.GetProperty("route").GetString()!)],
            [.. report.RootElement.GetProperty("backends").EnumerateArray().Select(r => r.GetProperty("backend").GetString()!)]);
    }

    private static async Task<long> HistoryRowsAsync(Platform platform, string backend)
    {
        await using var db = NpgsqlDataSource.Create(platform.ConnectionString);
        await using var count = db.CreateCommand("SELECT count(*) FROM health_verdicts WHERE tenant = 'forget' AND backend = $1");
        count.Parameters.AddWithValue(backend);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    /// <summary>The committed verdicts of cluster forget/web, as JSON ("" when there are none).</summary>
    private static async Task<string> VerdictsAsync(Platform platform)
    {
        await using var db = NpgsqlDataSource.Create(platform.ConnectionString);
        await using var read = db.CreateCommand("SELECT coalesce(spec::text, '') FROM config_resources WHERE kind = 4 AND tenant = 'forget' AND id = 'web'");
        return await read.ExecuteScalarAsync() as string ?? "";
    }

    private static async Task<HashSet<string>> ListedAsync(Platform platform)
    {
        using var list = System.Text.Json.JsonDocument.Parse(await platform.Admin.GetStringAsync("/v1/dataplanes"));
        return [.. list.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()!)];
    }

    private static async Task<long> RowsAsync(Platform platform, string worker)
    {
        await using var db = NpgsqlDataSource.Create(platform.ConnectionString);
        await using var count = db.CreateCommand("SELECT count(*) FROM grain_state WHERE grain_type = 'dataplane' AND grain_key = $1");
        count.Parameters.AddWithValue(worker);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    /// <summary>The pool's tombstones: in its distribution grain, in the node's feed (both from <c>/metrics</c>), and as rows.</summary>
    private static async Task<(double Grain, double Feed, long Rows)> TombstonesAsync(Platform platform, string pool)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var text = await http.GetStringAsync($"{platform.Silos[0].OpsUrl}/metrics");
        await using var db = NpgsqlDataSource.Create(platform.ConnectionString);
        await using var count = db.CreateCommand("SELECT count(*) FROM config_resources WHERE pool = $1 AND spec IS NULL");
        count.Parameters.AddWithValue(pool);
        var rows = (long)(await count.ExecuteScalarAsync())!;
        return (Gauge(text, "proxyplatform_config_tombstones", ("pool", pool), ("holder", "grain")),
            Gauge(text, "proxyplatform_config_tombstones", ("pool", pool), ("holder", "feed")), rows);
    }

    /// <summary>The sum of a Prometheus series' samples with the given labels (-1 when there is none).</summary>
    internal static double Gauge(string text, string name, params (string Label, string Value)[] labels)
    {
        var samples = text.Split('\n')
            .Where(line => line.StartsWith(name + "{", StringComparison.Ordinal) && labels.All(l => line.Contains($"{l.Label}=\"{l.Value}\"", StringComparison.Ordinal)))
            .Select(line => double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture))
            .ToList();
        return samples.Count == 0 ? -1 : samples.Sum();
    }
}
