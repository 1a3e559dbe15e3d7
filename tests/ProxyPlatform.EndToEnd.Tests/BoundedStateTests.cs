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
        await using var platform = await Platform.StartAsync("expiry", workers: 0, silos: 1, "--DataPlanes:ExpireAfter=00:00:02", "--DataPlanes:SilenceSeconds=3");
        var leaving = await platform.StartWorkerAsync("leaving", 0, "--ControlPlane:HeartbeatSeconds=0.5");
        await platform.StartWorkerAsync("staying", 0, "--ControlPlane:HeartbeatSeconds=0.5");
        await Eventually.Async(async () => (await ListedAsync(platform)).SetEquals(["leaving", "staying"]), null, () => "both workers are listed");

        await leaving.KillAsync();

        await Eventually.Async(async () => (await ListedAsync(platform)).SetEquals(["staying"]) && await RowsAsync(platform, "leaving") == 0, null,
            () => $"the record of the worker that left is still there\n{platform.Silos[0].Process.Output}");
        // A connected worker never expires, however long it has been connected.
        Assert.Equal(1, await RowsAsync(platform, "staying"));

        // One that comes back is registered anew.
        await leaving.StartAsync();
        await Eventually.Async(async () => (await ListedAsync(platform)).SetEquals(["leaving", "staying"]), null, () => "the returning worker is listed again");
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
