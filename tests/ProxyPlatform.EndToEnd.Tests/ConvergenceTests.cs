using System.Globalization;
using System.Net;
using System.Text.Json;
using ProxyPlatform.EndToEnd.Tests.Access;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests;

/// <summary>
/// Convergence as an SLO, with real processes: how long after its commit each worker applied each
/// revision, each worker's lag and state, and the Prometheus series of both.
/// </summary>
public sealed class ConvergenceTests
{
    /// <summary>Far beyond anything a write takes to reach a worker on a loopback, however busy the machine.</summary>
    private const double Plausible = 60_000;

    [Fact]
    public async Task Writes_applied_by_two_workers_on_two_silos_show_each_worker_s_convergence_and_apply_times_and_the_prometheus_series()
    {
        await using var backend = await TestBackend.StartAsync("conv");
        // One worker streams to each silo: the pool's roster is on one of them, and both take ACKs.
        await using var platform = await Platform.StartAsync("convergence", workers: 2, silos: 2);
        await platform.CreateServiceAsync("conv", "conv.test", [backend]);
        await platform.PutOkAsync("/v1/tenants/other", new { hostnames = new[] { "other.test" } });
        var ids = platform.Workers.Select(w => w.Id).ToList();
        // Samples count from a worker's first connection: the writes start once both are connected.
        await Eventually.Async(() => EntriesAsync(platform), all => ids.All(id => all.TryGetValue(id, out var e) && e.GetProperty("connected").GetBoolean()),
            null, all => $"not every worker is connected: {string.Join(", ", all.Values)}");
        long last = 0;
        for (var i = 0; i < 10; i++)
            last = await platform.PutOkAsync($"/v1/tenants/conv/routes/r{i}", new { match = new { pathPrefix = $"/r{i}" }, cluster = "web" });
        foreach (var worker in platform.Workers)
            await worker.WaitForRevisionAsync(last);

        var entries = await Eventually.Async(() => EntriesAsync(platform),
            all => ids.All(id => all.TryGetValue(id, out var e) && e.GetProperty("state").GetString() == "ready"
                && e.GetProperty("lag").GetProperty("revisions").GetInt64() == 0
                && e.GetProperty("convergence").GetProperty("p99Ms").ValueKind == JsonValueKind.Number),
            null, all => $"not every worker is ready with convergence figures: {string.Join(", ", all.Values)}");
        foreach (var id in ids)
        {
            var entry = entries[id];
            var p50 = entry.GetProperty("convergence").GetProperty("p50Ms").GetDouble();
            var p99 = entry.GetProperty("convergence").GetProperty("p99Ms").GetDouble();
            Assert.True(p50 > 0 && p50 <= p99 && p99 < Plausible, $"{id}: p50 {p50} ms, p99 {p99} ms");
            Assert.Equal(0, entry.GetProperty("lag").GetProperty("seconds").GetDouble());
            Assert.True(entry.GetProperty("connected").GetBoolean());
        }

        // The last write's apply time on each worker. A worker's ACK reaches the rollout's record a moment after
        // the worker has applied the revision: ?wait= holds the answer until every connected worker is in it.
        using (var rollout = JsonDocument.Parse(await platform.Admin.GetStringAsync($"/v1/revisions/{last}?wait=30s")))
        {
            Assert.Equal(JsonValueKind.String, rollout.RootElement.GetProperty("committedAt").ValueKind);
            var workers = rollout.RootElement.GetProperty("workers").EnumerateArray().ToDictionary(w => w.GetProperty("id").GetString()!);
            foreach (var id in ids)
            {
                Assert.True(workers[id].GetProperty("applied").GetBoolean());
                var ms = workers[id].GetProperty("appliedAfterMs").GetDouble();
                Assert.True(ms > 0 && ms < Plausible, $"{id} applied revision {last} {ms} ms after its commit");
            }
        }

        // A tenant's key reads the apply times of its own revisions only.
        var own = await AccessFixture.CreateKeyAsync(platform.Admin, "tenant-viewer", "conv");
        var stranger = await AccessFixture.CreateKeyAsync(platform.Admin, "tenant-viewer", "other");
        using (var ownView = await platform.Silos[0].Client(own["secret"]!.GetValue<string>()).GetAsync($"/v1/revisions/{last}"))
        {
            Assert.Equal(HttpStatusCode.OK, ownView.StatusCode);
            using var body = JsonDocument.Parse(await ownView.Content.ReadAsStringAsync());
            Assert.All(body.RootElement.GetProperty("workers").EnumerateArray(), w => Assert.Equal(JsonValueKind.Number, w.GetProperty("appliedAfterMs").ValueKind));
        }
        using (var strangerView = await platform.Silos[0].Client(stranger["secret"]!.GetValue<string>()).GetAsync($"/v1/revisions/{last}"))
            Assert.Equal(HttpStatusCode.NotFound, strangerView.StatusCode);

        // Prometheus, on the ops listeners: a histogram per pool, a lag gauge per worker, each from the node
        // the pool's roster is on, so the sum over the nodes counts every sample once.
        var text = string.Join('\n', await Task.WhenAll(platform.Silos.Select(MetricsAsync)));
        var count = BoundedStateTests.Gauge(text, "proxyplatform_config_convergence_seconds_count", ("pool", "default"));
        // The 10 route writes on each of the two, once each (and no more than the 15 revisions since they started).
        Assert.True(count >= 2 * 10 && count <= 2 * 15, $"proxyplatform_config_convergence_seconds_count is {count}:\n{text}");
        Assert.Contains("proxyplatform_config_convergence_seconds_bucket{", text, StringComparison.Ordinal);
        foreach (var id in ids)
            Assert.Equal(0, BoundedStateTests.Gauge(text, "proxyplatform_config_lag_revisions", ("pool", "default"), ("worker", id)));
    }

    [Fact]
    public async Task A_stalled_worker_is_shown_stale_while_it_lags_and_ready_again_once_it_resumes()
    {
        await using var backend = await TestBackend.StartAsync("stall");
        // The stale bound is short; the silence bound long, so the frozen worker still counts as connected.
        await using var platform = await Platform.StartAsync("stale", workers: 0, silos: 1,
            "--DataPlanes:StaleAfterSeconds=2", "--DataPlanes:SilenceSeconds=600");
        var steady = await platform.StartWorkerAsync("steady", 0, "--ControlPlane:HeartbeatSeconds=1");
        var stalled = await platform.StartWorkerAsync("stalled", 0, "--ControlPlane:HeartbeatSeconds=1");
        var first = await platform.CreateServiceAsync("stall", "stall.test", [backend]);
        await steady.WaitForRevisionAsync(first);
        await stalled.WaitForRevisionAsync(first);
        await StateAsync(platform, "stalled", "ready");

        long behind;
        // Frozen, the worker keeps its stream open but applies and acknowledges nothing.
        stalled.Process.Signal(freeze: true);
        try
        {
            behind = await platform.PutOkAsync("/v1/tenants/stall/routes/later", new { match = new { pathPrefix = "/later" }, cluster = "web" });
            await steady.WaitForRevisionAsync(behind);
            var entry = await StateAsync(platform, "stalled", "stale");
            Assert.True(entry.GetProperty("lag").GetProperty("revisions").GetInt64() >= 1, entry.ToString());
            Assert.True(entry.GetProperty("lag").GetProperty("seconds").GetDouble() > 2, entry.ToString());
            Assert.True(entry.GetProperty("connected").GetBoolean(), entry.ToString());
            await StateAsync(platform, "steady", "ready");
            var text = await MetricsAsync(platform.Silos[0]);
            Assert.True(BoundedStateTests.Gauge(text, "proxyplatform_config_lag_revisions", ("pool", "default"), ("worker", "stalled")) >= 1, text);
            Assert.Equal(0, BoundedStateTests.Gauge(text, "proxyplatform_config_lag_revisions", ("pool", "default"), ("worker", "steady")));

            // A ?wait= that ends with the revision still pending (the frozen worker cannot apply it) answers as
            // much as a read without one: when it was committed, and each worker's apply time and state.
            using var waited = JsonDocument.Parse(await platform.Admin.GetStringAsync($"/v1/revisions/{behind}?wait=1s"));
            Assert.False(waited.RootElement.GetProperty("complete").GetBoolean(), waited.RootElement.ToString());
            Assert.Equal(JsonValueKind.String, waited.RootElement.GetProperty("committedAt").ValueKind);
            var pending = waited.RootElement.GetProperty("workers").EnumerateArray().ToDictionary(w => w.GetProperty("id").GetString()!);
            Assert.Equal(JsonValueKind.Number, pending["steady"].GetProperty("appliedAfterMs").ValueKind);
            Assert.Equal("ready", pending["steady"].GetProperty("state").GetString());
            Assert.Equal(JsonValueKind.Null, pending["stalled"].GetProperty("appliedAfterMs").ValueKind);
            Assert.Equal("stale", pending["stalled"].GetProperty("state").GetString());
        }
        finally
        {
            stalled.Process.Signal(freeze: false);
        }

        await stalled.WaitForRevisionAsync(behind);
        var resumed = await Eventually.Async(() => EntryAsync(platform, "stalled"),
            e => e.ValueKind == JsonValueKind.Object && e.GetProperty("state").GetString() == "ready" && e.GetProperty("lag").GetProperty("revisions").GetInt64() == 0,
            null, e => $"the resumed worker is not ready: {e}");
        Assert.Equal(0, resumed.GetProperty("lag").GetProperty("seconds").GetDouble());
        // It was stale, so it applied the revision more than the stale bound after its commit; the steady one did not wait for it.
        using var rollout = JsonDocument.Parse(await platform.Admin.GetStringAsync($"/v1/revisions/{behind}"));
        var workers = rollout.RootElement.GetProperty("workers").EnumerateArray().ToDictionary(w => w.GetProperty("id").GetString()!);
        var late = workers["stalled"].GetProperty("appliedAfterMs").GetDouble();
        var prompt = workers["steady"].GetProperty("appliedAfterMs").GetDouble();
        Assert.True(late > 2_000 && late > prompt, $"the stalled worker applied revision {behind} {late} ms after its commit, the steady one {prompt} ms");
        Assert.True(resumed.GetProperty("convergence").GetProperty("p99Ms").GetDouble() >= late, resumed.ToString());
    }

    /// <summary>Every worker's entry in <c>GET /v1/dataplanes</c>, by ID.</summary>
    private static async Task<Dictionary<string, JsonElement>> EntriesAsync(Platform platform)
    {
        using var list = JsonDocument.Parse(await platform.Admin.GetStringAsync("/v1/dataplanes"));
        return list.RootElement.GetProperty("items").EnumerateArray().ToDictionary(i => i.GetProperty("id").GetString()!, i => i.Clone());
    }

    private static async Task<JsonElement> EntryAsync(Platform platform, string worker) =>
        (await EntriesAsync(platform)).GetValueOrDefault(worker);

    private static Task<JsonElement> StateAsync(Platform platform, string worker, string state) =>
        Eventually.Async(() => EntryAsync(platform, worker),
            e => e.ValueKind == JsonValueKind.Object && e.GetProperty("state").GetString() == state,
            null, e => $"{worker} is not {state}: {e}");

    private static async Task<string> MetricsAsync(Silo silo)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        return await http.GetStringAsync(string.Create(CultureInfo.InvariantCulture, $"{silo.OpsUrl}/metrics"));
    }
}
