using System.Net;
using System.Text.Json;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests;

/// <summary>Revisions, deltas, resume, ACK/NACK, last-known-good and rollout status, with real processes.</summary>
public sealed class ConfigDistributionTests
{
    [Fact]
    public async Task One_route_change_in_a_5000_route_configuration_costs_under_1_percent_of_a_snapshot()
    {
        await using var platform = await Platform.StartAsync("deltas");
        var first = platform.Workers[0];
        await platform.PutOkAsync("/v1/tenants/big", new { hostnames = new[] { "big.test" } });
        await platform.PutOkAsync("/v1/tenants/big/clusters/web", new { });
        await platform.PutOkAsync("/v1/tenants/big/clusters/web/backends/b", new { address = "http://127.0.0.1:9" });
        var revisions = await Load(platform, Enumerable.Range(0, 5000).Select(i => ($"/v1/tenants/big/routes/r{i}", (object)new { match = new { pathPrefix = $"/r{i}" }, cluster = "web" })));
        await first.WaitForRevisionAsync(revisions.Max());

        // A worker that joins now gets the whole configuration as one snapshot.
        var second = await platform.StartWorkerAsync("late");
        var snapshot = (await second.WaitForRevisionAsync(revisions.Max())).LastUpdate!;
        Assert.Equal(0, snapshot.BaseRevision);
        Assert.Equal(5002, snapshot.Upserts);

        var change = await platform.PutOkAsync("/v1/tenants/big/routes/r42", new { match = new { pathPrefix = "/changed" }, cluster = "web" });
        foreach (var worker in new[] { first, second })
        {
            var delta = (await worker.WaitForRevisionAsync(change)).LastUpdate!;
            Assert.Equal(1, delta.Upserts);
            Assert.Equal(0, delta.Removals);
            Assert.True(delta.Bytes * 100 < snapshot.Bytes, $"a one-route delta of {delta.Bytes} bytes against a snapshot of {snapshot.Bytes}");
        }
    }

    [Fact]
    public async Task Backend_only_changes_leave_routing_alone_and_a_burst_of_route_changes_is_applied_in_batches()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await using var platform = await Platform.StartAsync("coalesce");
        var worker = platform.Workers[0];
        await worker.WaitForRevisionAsync(await platform.CreateServiceAsync("co", "co.test", [a]));
        var before = await worker.StatsAsync();

        long last = 0;
        for (var i = 1; i <= 10; i++)
            last = await platform.PutOkAsync("/v1/tenants/co/clusters/web/backends/b", new { address = b.Address, weight = i });
        var afterBackends = await worker.WaitForRevisionAsync(last);
        Assert.Equal(before.RouteTableRebuilds, afterBackends.RouteTableRebuilds);
        var seen = new HashSet<string>();
        for (var i = 0; i < 6; i++)
            seen.Add((await worker.EchoAsync("co.test", "/")).Backend);
        Assert.Equal(["a", "b"], seen.Order());

        const int burst = 200;
        var revisions = await Load(platform, Enumerable.Range(0, burst).Select(i => ($"/v1/tenants/co/routes/burst{i}", (object)new { match = new { pathPrefix = $"/burst{i}" }, cluster = "web" })));
        var afterBurst = await worker.WaitForRevisionAsync(revisions.Max());
        var rebuilds = afterBurst.RouteTableRebuilds - afterBackends.RouteTableRebuilds;
        Assert.True(rebuilds < burst / 2, $"{burst} route writes rebuilt the route table {rebuilds} times");
        Assert.Contains((await worker.EchoAsync("co.test", "/burst199/x")).Backend, new[] { "a", "b" });
    }

    [Fact]
    public async Task Worker_restarted_after_missing_ten_changes_receives_exactly_those()
    {
        await using var backend = await TestBackend.StartAsync("resume");
        await using var platform = await Platform.StartAsync("resume");
        var worker = platform.Workers[0];
        await platform.CreateServiceAsync("resume", "resume.test", [backend], "/main");
        for (var i = 0; i < 5; i++)
            await platform.PutOkAsync($"/v1/tenants/resume/routes/old{i}", new { match = new { pathPrefix = $"/old{i}" }, cluster = "web" });
        // ?wait= answers once the worker has ACKed, and it ACKs a revision only once it is saved as
        // last-known-good: killed after that, the worker restarts from this revision and no older one.
        long before;
        using (var acked = await platform.PutAsync("/v1/tenants/resume/routes/old5?wait=30s", new { match = new { pathPrefix = "/old5" }, cluster = "web" }))
        {
            Assert.Equal(HttpStatusCode.Created, acked.StatusCode);
            before = long.Parse(acked.Headers.GetValues("X-Config-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture);
        }
        await worker.WaitForRevisionAsync(before);
        await worker.KillAsync();

        long last = 0;
        for (var i = 0; i < 7; i++)
            last = await platform.PutOkAsync($"/v1/tenants/resume/routes/new{i}", new { match = new { pathPrefix = $"/new{i}" }, cluster = "web" });
        for (var i = 0; i < 3; i++)
        {
            using var deleted = await platform.Admin.DeleteAsync($"/v1/tenants/resume/routes/old{i}");
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
            last = long.Parse(deleted.Headers.GetValues("X-Config-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture);
        }

        await worker.StartAsync();
        var stats = await worker.WaitForRevisionAsync(last);
        Assert.Equal(1, stats.UpdatesReceived);
        Assert.Equal(before, stats.LastUpdate!.BaseRevision);
        Assert.Equal(7, stats.LastUpdate.Upserts);
        Assert.Equal(3, stats.LastUpdate.Removals);
        (await worker.WaitForStatusAsync("resume.test", "/new6", 200)).Dispose();
        (await worker.WaitForStatusAsync("resume.test", "/old0", 404)).Dispose();
    }

    [Fact]
    public async Task Worker_that_cannot_save_a_revision_serves_it_but_acks_it_only_once_a_save_succeeds()
    {
        await using var backend = await TestBackend.StartAsync("unsaved");
        await using var platform = await Platform.StartAsync("unsaved", workers: 0);
        // Frequent heartbeats: the control plane counts a heartbeat's revision as applied too.
        var worker = await platform.StartWorkerAsync("unsaved", 0, "--ControlPlane:HeartbeatSeconds=0.2");
        var saved = await platform.CreateServiceAsync("unsaved", "unsaved.test", [backend], "/main");
        await Eventually.Async(async () => (await worker.StatsAsync()).SavedRevision >= saved, null, () => "the service is saved");
        await Eventually.Async(async () => await AppliedRevisionAsync(platform, worker.Id) >= saved, null, () => "the service is acknowledged");

        // A data folder that is a regular file fails every save, whoever the worker runs as.
        Directory.Delete(worker.DataDir, recursive: true);
        await File.WriteAllTextAsync(worker.DataDir, "in the way");
        var revision = await platform.PutOkAsync("/v1/tenants/unsaved/routes/new", new { match = new { pathPrefix = "/new" }, cluster = "web" });

        // Served at once, retried, and not acknowledged: a restart would not serve it.
        (await worker.WaitForStatusAsync("unsaved.test", "/new/x", 200)).Dispose();
        await Eventually.Async(async () => (await worker.StatsAsync()).FailedSaves >= 2, null, () => "a save has failed and been retried");
        // Heartbeats have come in since the worker served it, and none counted it as applied either.
        await HeartbeatsTakenAsync(platform, worker.Id, 3);
        Assert.Equal(saved, (await worker.StatsAsync()).SavedRevision);
        Assert.True(await AppliedRevisionAsync(platform, worker.Id) < revision);
        // Nor does the Hello of a new stream, which names what the worker serves and what it saved.
        await platform.KillControlPlaneAsync();
        await platform.StartControlPlaneAsync();
        await HeartbeatsTakenAsync(platform, worker.Id, 2);
        Assert.True(await AppliedRevisionAsync(platform, worker.Id) < revision);

        File.Delete(worker.DataDir);
        Directory.CreateDirectory(worker.DataDir);
        await Eventually.Async(async () => await AppliedRevisionAsync(platform, worker.Id) >= revision, null, () => $"revision {revision} is acknowledged");
        Assert.True((await worker.StatsAsync()).SavedRevision >= revision);

        await worker.KillAsync();
        await platform.KillControlPlaneAsync();
        await worker.StartAsync();
        (await worker.WaitForStatusAsync("unsaved.test", "/new/x", 200)).Dispose();
    }

    [Fact]
    public async Task A_resource_a_worker_cannot_apply_is_rejected_alone_and_every_other_tenants_changes_keep_flowing()
    {
        await using var alpha = await TestBackend.StartAsync("alpha");
        await using var beta = await TestBackend.StartAsync("beta");
        await using var platform = await Platform.StartAsync("reject", workers: 0);
        // This worker's own ceiling on request bodies is 1 MiB: a route asking for more cannot be honoured by it.
        var worker = await platform.StartWorkerAsync("small", 0, "--Proxy:MaxRequestBodyBytes=1048576", "--ControlPlane:HeartbeatSeconds=0.5");
        await platform.CreateServiceAsync("alpha", "alpha.test", [alpha]);
        await worker.WaitForRevisionAsync(await platform.CreateServiceAsync("beta", "beta.test", [beta]));
        var updatesBefore = (await worker.StatsAsync()).UpdatesReceived;

        var bad = await platform.PutOkAsync("/v1/tenants/alpha/routes/upload", new { match = new { pathPrefix = "/upload" }, cluster = "web", maxRequestBodyBytes = 104857600 });

        // The worker applies the revision without that route, and says so.
        await worker.WaitForRevisionAsync(bad);
        var entry = await RejectedAsync(platform, "small", bad);
        var rejected = Assert.Single(entry.GetProperty("rejected").EnumerateArray());
        Assert.Equal(("route", "alpha", "upload"), (rejected.GetProperty("kind").GetString(), rejected.GetProperty("tenant").GetString(), rejected.GetProperty("id").GetString()));
        Assert.Contains("maxRequestBodyBytes", rejected.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, entry.GetProperty("lastNack").ValueKind);
        using (var route = JsonDocument.Parse(await platform.Admin.GetStringAsync("/v1/tenants/alpha/routes/upload")))
        {
            var by = Assert.Single(route.RootElement.GetProperty("rejectedBy").EnumerateArray());
            Assert.Equal("small", by.GetProperty("worker").GetString());
            Assert.Equal(bad, by.GetProperty("revision").GetInt64());
            Assert.Contains("maxRequestBodyBytes", by.GetProperty("reason").GetString(), StringComparison.Ordinal);
        }
        Assert.Equal(0, (await worker.StatsAsync()).NacksSent);
        Assert.Equal("alpha", (await worker.EchoAsync("alpha.test", "/still-served")).Backend);

        // Another tenant's later changes apply on that worker, and the rejected route is not sent again.
        var betaChange = await platform.PutOkAsync("/v1/tenants/beta/routes/new", new { match = new { pathPrefix = "/new" }, cluster = "web", stripPrefix = true });
        await worker.WaitForRevisionAsync(betaChange);
        var echo = await worker.EchoAsync("beta.test", "/new/x");
        Assert.Equal(("beta", "/x"), (echo.Backend, echo.Path));
        var stats = await worker.StatsAsync();
        Assert.True(stats.AppliedRevision >= betaChange);
        Assert.Equal((betaChange, 1, 0), (stats.LastUpdate!.Revision, stats.LastUpdate.Upserts, stats.LastUpdate.Removals));
        Assert.Equal(updatesBefore + 2, stats.UpdatesReceived);
        Assert.Single((await RejectedAsync(platform, "small", bad)).GetProperty("rejected").EnumerateArray());

        // A good version of the route supersedes the rejected one, and the rejection is gone.
        var fixedRevision = await platform.PutOkAsync("/v1/tenants/alpha/routes/upload", new { match = new { pathPrefix = "/upload" }, cluster = "web", maxRequestBodyBytes = 1024 });
        await worker.WaitForRevisionAsync(fixedRevision);
        (await worker.WaitForStatusAsync("alpha.test", "/upload/x", 200)).Dispose();
        await Eventually.Async(() => EntryAsync(platform, "small"), e => e.GetProperty("rejected").GetArrayLength() == 0, null, e => $"Still rejected: {e}");
        using (var route = JsonDocument.Parse(await platform.Admin.GetStringAsync("/v1/tenants/alpha/routes/upload")))
            Assert.Equal(0, route.RootElement.GetProperty("rejectedBy").GetArrayLength());
    }

    [Fact]
    public async Task Two_silos_serve_one_configuration_and_a_killed_silo_loses_no_acknowledged_write()
    {
        await using var backend = await TestBackend.StartAsync("two");
        await using var platform = await Platform.StartAsync("twosilos", workers: 2, silos: 2);
        var (silo1, silo2) = (platform.Silos[0], platform.Silos[1]);
        var (worker1, worker2) = (platform.Workers[0], platform.Workers[1]);
        await platform.CreateServiceAsync("two", "two.test", [backend], "/via-silo-1");

        var viaSilo2 = await silo2.PutOkAsync("/v1/tenants/two/routes/b", new { match = new { pathPrefix = "/via-silo-2" }, cluster = "web" });
        foreach (var worker in platform.Workers)
        {
            await worker.WaitForRevisionAsync(viaSilo2);
            Assert.Equal("two", (await worker.EchoAsync("two.test", "/via-silo-1")).Backend);
            Assert.Equal("two", (await worker.EchoAsync("two.test", "/via-silo-2")).Backend);
        }

        await silo1.Process.KillAsync();

        // Writes through the surviving silo keep working (after a short failover) and reach both workers;
        // worker 1 moves from the dead silo to the live one.
        var afterKill = await Eventually.Succeeds(() => silo2.PutOkAsync("/v1/tenants/two/routes/c", new { match = new { pathPrefix = "/after-kill" }, cluster = "web" }), TimeSpan.FromSeconds(60));
        foreach (var worker in new[] { worker1, worker2 })
        {
            await worker.WaitForRevisionAsync(afterKill, TimeSpan.FromSeconds(60));
            Assert.Equal("two", (await worker.EchoAsync("two.test", "/after-kill")).Backend);
        }
        // Reads of grains that lived on the dead silo answer 503 Retry-After until the cluster has
        // declared it dead; then every acknowledged write is there.
        foreach (var route in new[] { "main", "b", "c" })
        {
            var status = await Eventually.Succeeds(async () =>
            {
                using var response = await silo2.Admin.GetAsync($"/v1/tenants/two/routes/{route}");
                return response.StatusCode == HttpStatusCode.ServiceUnavailable ? throw new HttpRequestException("503") : response.StatusCode;
            }, TimeSpan.FromSeconds(60));
            Assert.Equal(HttpStatusCode.OK, status);
        }
    }

    [Fact]
    public async Task Worker_restarted_while_the_control_plane_is_down_serves_its_last_known_good_configuration()
    {
        await using var backend = await TestBackend.StartAsync("lkg");
        await using var platform = await Platform.StartAsync("lkg");
        var worker = platform.Workers[0];
        var revision = await platform.CreateServiceAsync("lkg", "lkg.test", [backend], "/api", stripPrefix: true);
        await worker.WaitForRevisionAsync(revision);

        await platform.KillControlPlaneAsync();
        await worker.KillAsync();
        await worker.StartAsync();

        // No waiting for a control plane that is not there: ready at once, serving the saved configuration.
        using var ops = new HttpClient();
        using (var ready = await ops.GetAsync($"{worker.OpsUrl}/readyz"))
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("/x", (await worker.EchoAsync("lkg.test", "/api/x")).Path);
        Assert.Equal(revision, (await worker.StatsAsync()).AppliedRevision);
    }

    [Fact]
    public async Task Write_with_wait_answers_once_every_worker_of_the_pool_has_applied_it()
    {
        await using var backend = await TestBackend.StartAsync("wait");
        await using var platform = await Platform.StartAsync("wait", workers: 2);
        await platform.CreateServiceAsync("wait", "wait.test", [backend]);

        using var response = await platform.PutAsync("/v1/tenants/wait/routes/now?wait=20s", new { match = new { pathPrefix = "/now" }, cluster = "web" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("complete", response.Headers.GetValues("X-Config-Rollout").Single());
        var revision = long.Parse(response.Headers.GetValues("X-Config-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture);

        // No polling: both workers serve it the moment the write returns.
        foreach (var worker in platform.Workers)
            Assert.Equal("wait", (await worker.EchoAsync("wait.test", "/now/x")).Backend);

        using var rollout = JsonDocument.Parse(await platform.Admin.GetStringAsync($"/v1/revisions/{revision}"));
        Assert.True(rollout.RootElement.GetProperty("complete").GetBoolean());
        Assert.Equal(2, rollout.RootElement.GetProperty("workers").EnumerateArray().Count(w => w.GetProperty("applied").GetBoolean()));

        using var dataplanes = JsonDocument.Parse(await platform.Admin.GetStringAsync("/v1/dataplanes"));
        var items = dataplanes.RootElement.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(["worker-1", "worker-2"], items.Select(i => i.GetProperty("id").GetString()).Order());
        Assert.All(items, i =>
        {
            Assert.Equal("connected", i.GetProperty("status").GetString());
            Assert.True(i.GetProperty("appliedRevision").GetInt64() >= revision);
        });
    }

    [Fact]
    public async Task Write_with_wait_answers_202_naming_the_workers_that_have_not_applied_it()
    {
        await using var backend = await TestBackend.StartAsync("slow");
        await using var platform = await Platform.StartAsync("waitpending", workers: 0);
        var worker = await platform.StartWorkerAsync("strict", 0, "--Proxy:MaxRequestBodyBytes=1024");
        await worker.WaitForRevisionAsync(await platform.CreateServiceAsync("pend", "pend.test", [backend]));

        // This worker rejects the change, so it never applies it: the wait times out with a clear answer.
        // Below "main" rather than beside it: a second catch-all tried before "main" would leave it shadowed (409).
        using var response = await platform.PutAsync("/v1/tenants/pend/routes/big?wait=1s", new { match = new { pathPrefix = "/big" }, cluster = "web", maxRequestBodyBytes = 4096 });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.False(body.RootElement.GetProperty("complete").GetBoolean());
        Assert.Equal(["strict"], body.RootElement.GetProperty("pending").EnumerateArray().Select(p => p.GetString()));
        using var stored = await platform.Admin.GetAsync("/v1/tenants/pend/routes/big");
        Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
    }

    [Fact]
    public async Task Worker_that_stops_heartbeating_is_shown_disconnected_and_connected_again_when_it_resumes()
    {
        await using var platform = await Platform.StartAsync("silent", workers: 0, silos: 1, "--DataPlanes:SilenceSeconds=3");
        var worker = await platform.StartWorkerAsync("hung", 0, "--ControlPlane:HeartbeatSeconds=1");
        await Status(platform, "hung", "connected");

        // Frozen, the worker keeps its stream open but sends no heartbeat.
        worker.Process.Signal(freeze: true);
        try
        {
            await Status(platform, "hung", "disconnected");
        }
        finally
        {
            worker.Process.Signal(freeze: false);
        }
        await Status(platform, "hung", "connected");
    }

    [Fact]
    public async Task Worker_receives_only_the_tenants_of_its_pool()
    {
        await using var backend = await TestBackend.StartAsync("pools");
        await using var platform = await Platform.StartAsync("pools");
        var defaultWorker = platform.Workers[0];
        // A worker joins only a pool an operator has created.
        await platform.PutOkAsync("/v1/pools/blue", new { });
        var blueWorker = await platform.StartWorkerAsync("blue-1", 0, "--DataPlane:Pool=blue");
        await platform.PutOkAsync("/v1/tenants/blue", new { hostnames = new[] { "blue.test" }, pool = "blue" });
        await platform.PutOkAsync("/v1/tenants/blue/clusters/web", new { });
        await platform.PutOkAsync($"/v1/tenants/blue/clusters/web/backends/b", new { address = backend.Address });
        var blue = await platform.PutOkAsync("/v1/tenants/blue/routes/main", new { cluster = "web" });
        var other = await platform.CreateServiceAsync("green", "green.test", [backend]);

        await blueWorker.WaitForRevisionAsync(blue);
        await defaultWorker.WaitForRevisionAsync(other);
        Assert.Equal("pools", (await blueWorker.EchoAsync("blue.test", "/")).Backend);
        Assert.Equal("pools", (await defaultWorker.EchoAsync("green.test", "/")).Backend);
        using (var notHere = await defaultWorker.GetAsync("blue.test", "/"))
            Assert.Equal(HttpStatusCode.NotFound, notHere.StatusCode);
        using (var notThere = await blueWorker.GetAsync("green.test", "/"))
            Assert.Equal(HttpStatusCode.NotFound, notThere.StatusCode);
    }

    [Fact]
    public async Task Tenant_moved_to_another_pool_gets_its_later_routes_there_through_every_silo()
    {
        await using var backend = await TestBackend.StartAsync("move");
        await using var platform = await Platform.StartAsync("move", workers: 1, silos: 2);
        var defaultWorker = platform.Workers[0];
        // A worker joins only a pool an operator has created.
        await platform.PutOkAsync("/v1/pools/blue", new { });
        var blueWorker = await platform.StartWorkerAsync("blue-1", 1, "--DataPlane:Pool=blue");
        await platform.PutOkAsync("/v1/tenants/mover", new { hostnames = new[] { "mover.test" } });
        await platform.PutOkAsync("/v1/tenants/mover/clusters/web", new { });
        // A route is written on the silo that takes the request, so both silos write for the tenant in
        // the default pool; then the tenant is emptied and moved.
        foreach (var (silo, i) in platform.Silos.Select((s, i) => (s, i)))
        {
            await silo.PutOkAsync($"/v1/tenants/mover/routes/before{i}", new { match = new { pathPrefix = $"/before{i}" }, cluster = "web" });
            using var deleted = await silo.Admin.DeleteAsync($"/v1/tenants/mover/routes/before{i}");
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        using (var deleted = await platform.Admin.DeleteAsync("/v1/tenants/mover/clusters/web"))
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await platform.PutOkAsync("/v1/tenants/mover", new { hostnames = new[] { "mover.test" }, pool = "blue" });
        await platform.PutOkAsync("/v1/tenants/mover/clusters/web", new { });
        await platform.PutOkAsync("/v1/tenants/mover/clusters/web/backends/b", new { address = backend.Address });

        var revisions = new List<long>();
        foreach (var (silo, i) in platform.Silos.Select((s, i) => (s, i)))
            revisions.Add(await silo.PutOkAsync($"/v1/tenants/mover/routes/r{i}", new { match = new { pathPrefix = $"/r{i}" }, cluster = "web" }));

        await blueWorker.WaitForRevisionAsync(revisions.Max());
        Assert.Equal("move", (await blueWorker.EchoAsync("mover.test", "/r0")).Backend);
        Assert.Equal("move", (await blueWorker.EchoAsync("mover.test", "/r1")).Backend);
        var marker = await platform.CreateServiceAsync("stays", "stays.test", [backend]);
        await defaultWorker.WaitForRevisionAsync(marker);
        using var notHere = await defaultWorker.GetAsync("mover.test", "/r1");
        Assert.Equal(HttpStatusCode.NotFound, notHere.StatusCode);
    }

    private static async Task<List<long>> Load(Platform platform, IEnumerable<(string Path, object Body)> writes)
    {
        var queue = new System.Collections.Concurrent.ConcurrentQueue<(string Path, object Body)>(writes);
        var revisions = new System.Collections.Concurrent.ConcurrentBag<long>();
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            while (queue.TryDequeue(out var write))
                revisions.Add(await platform.PutOkAsync(write.Path, write.Body));
        }));
        return [.. revisions];
    }

    /// <summary>The worker's entry in <c>/v1/dataplanes</c> once it lists a rejection of <paramref name="revision"/>.</summary>
    private static Task<JsonElement> RejectedAsync(Platform platform, string worker, long revision) =>
        Eventually.Async(() => EntryAsync(platform, worker),
            e => e.ValueKind == JsonValueKind.Object && e.GetProperty("rejected").EnumerateArray().Any(r => r.GetProperty("revision").GetInt64() == revision),
            null, e => $"No rejection of revision {revision} from {worker}: {e}");

    private static Task Status(Platform platform, string worker, string status) =>
        Eventually.Async(() => EntryAsync(platform, worker),
            e => e.ValueKind == JsonValueKind.Object && e.GetProperty("status").GetString() == status,
            null, e => $"{worker} is not {status}: {e}");

    /// <summary>
    /// Waits until the control plane has taken <paramref name="count"/> more heartbeats from
    /// <paramref name="worker"/>: each one moves the worker's <c>lastSeen</c>.
    /// </summary>
    private static async Task HeartbeatsTakenAsync(Platform platform, string worker, int count)
    {
        var seen = new HashSet<string>();
        await Eventually.Async(async () =>
        {
            seen.Add((await EntryAsync(platform, worker)).GetProperty("lastSeen").GetString() ?? "never");
            // The first value read is where the count starts.
            return seen.Count > count;
        }, null, () => $"the control plane saw {worker} at only {string.Join(", ", seen)}");
    }

    /// <summary>The revision the control plane counts <paramref name="worker"/> as having applied (its ACKs and heartbeats).</summary>
    private static async Task<long> AppliedRevisionAsync(Platform platform, string worker) =>
        (await EntryAsync(platform, worker)).GetProperty("appliedRevision").GetInt64();

    /// <summary>The worker's entry in <c>GET /v1/dataplanes</c> (undefined when it has none).</summary>
    private static async Task<JsonElement> EntryAsync(Platform platform, string worker)
    {
        using var list = JsonDocument.Parse(await platform.Admin.GetStringAsync("/v1/dataplanes"));
        return list.RootElement.GetProperty("items").EnumerateArray().SingleOrDefault(i => i.GetProperty("id").GetString() == worker) is { ValueKind: JsonValueKind.Object } entry
            ? entry.Clone()
            : default;
    }
}
