using System.Diagnostics;
using System.Net;
using System.Text.Json;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Scaling;

/// <summary>The Process provider with real control planes and the worker processes they start themselves.</summary>
public sealed class PoolScalingTests
{
    private static void Say(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    [Fact]
    public async Task Scaling_default_from_1_to_3_and_back_to_1_under_steady_GETs_to_every_ready_replica_fails_no_request()
    {
        await using var backend = await TestBackend.StartAsync("steady");
        await using var workers = await ProcessWorkers.StartAsync("scale-steady", drainSeconds: 8);
        var platform = workers.Platform;
        await platform.CreateServiceAsync("steady", "steady.test", [backend]);
        var clock = Stopwatch.StartNew();
        await workers.ScaleAsync(1);
        var pool = await workers.WaitReadyAsync(1);
        Say($"1 replica ready after {clock.Elapsed.TotalSeconds:0.0} s");

        // A client in front, as a load balancer would be: it sends to the replicas the admin API shows ready.
        var targets = ProcessWorkers.ReadyProxyUrls(pool);
        var failures = new List<string>();
        var sent = 0;
        using var stop = new CancellationTokenSource();
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var refresher = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    Volatile.Write(ref targets, ProcessWorkers.ReadyProxyUrls(await ProcessWorkers.PoolAsync(platform.Admin)));
                }
                catch (HttpRequestException)
                {
                }
                await Task.Delay(100, CancellationToken.None);
            }
        });
        var senders = Enumerable.Range(0, 4).Select(n => Task.Run(async () =>
        {
            for (var i = n; !stop.IsCancellationRequested; i++)
            {
                var current = Volatile.Read(ref targets);
                if (current.Count == 0)
                    continue;
                var url = current[i % current.Count];
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{url}/steady/{i}") { Headers = { Host = "steady.test" } };
                try
                {
                    using var response = await client.SendAsync(request);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        var body = await response.Content.ReadAsStringAsync();
                        lock (failures) failures.Add($"{url}: {(int)response.StatusCode} {body}");
                    }
                }
                catch (HttpRequestException ex)
                {
                    lock (failures) failures.Add($"{url}: {ex.Message}");
                }
                Interlocked.Increment(ref sent);
            }
        })).ToList();

        clock.Restart();
        await workers.ScaleAsync(3);
        pool = await workers.WaitReadyAsync(3);
        Say($"3 replicas ready after {clock.Elapsed.TotalSeconds:0.0} s");
        var three = ProcessWorkers.ReadyProxyUrls(pool);
        Assert.Equal(3, three.Distinct().Count());
        // Every replica takes traffic before the pool shrinks again.
        await Eventually.Async(() => Volatile.Read(ref targets).Count == 3, TimeSpan.FromSeconds(30), () => "the client has not seen 3 replicas");
        var before = Volatile.Read(ref sent);
        await Eventually.Async(() => Volatile.Read(ref sent) > before + 30, TimeSpan.FromSeconds(60), () => $"{sent} requests sent");

        clock.Restart();
        await workers.ScaleAsync(1);
        pool = await workers.WaitReadyAsync(1);
        Say($"back to 1 replica after {clock.Elapsed.TotalSeconds:0.0} s");
        // The workers that left go through draining to gone (their process may exit before the control plane
        // has seen their stream end, so gone is awaited); the one that stays is slot 0.
        static Dictionary<string, string?> States(JsonElement pool) =>
            pool.GetProperty("workers").EnumerateArray().ToDictionary(w => w.GetProperty("id").GetString()!, w => w.GetProperty("state").GetString());
        pool = await Eventually.Async(() => ProcessWorkers.PoolAsync(platform.Admin),
            p => States(p).Where(s => s.Key != "default-0").All(s => s.Value == "gone"), TimeSpan.FromSeconds(60),
            p => $"the workers that left are not all gone: {p}");
        var states = States(pool);
        Assert.Equal("ready", states["default-0"]);
        Assert.Equal(2, states.Count(s => s.Value == "gone"));
        Assert.Equal(["default-0"], workers.Running().Select(r => r.Id));

        await stop.CancelAsync();
        await Task.WhenAll(senders);
        await refresher;
        Say($"{sent} requests, {failures.Count} failed");
        Assert.True(sent > 100, $"only {sent} requests were sent");
        Assert.Empty(failures);
    }

    [Fact]
    public async Task A_supervised_worker_killed_with_SIGKILL_is_started_again_in_its_slot_and_the_pool_is_ready_again()
    {
        await using var backend = await TestBackend.StartAsync("phoenix");
        await using var workers = await ProcessWorkers.StartAsync("scale-kill");
        await workers.Platform.CreateServiceAsync("phoenix", "phoenix.test", [backend]);
        await workers.ScaleAsync(2);
        await workers.WaitReadyAsync(2);
        var victim = workers.Running().Single(r => r.Id == "default-1");

        using (var process = Process.GetProcessById(victim.Pid))
            process.Kill();

        var pool = await Eventually.Async(async () => (await ProcessWorkers.PoolAsync(workers.Platform.Admin), workers.Running()),
            seen => seen.Item2.Count == 2 && seen.Item2.Any(r => r.Id == "default-1" && r.Pid != victim.Pid) && seen.Item1.GetProperty("readyReplicas").GetInt32() == 2,
            TimeSpan.FromSeconds(120), seen => $"pool {seen.Item1}; processes {string.Join(", ", seen.Item2)}");
        // One process per slot: the restart replaced the worker, it did not add one.
        Assert.Equal(["default-0", "default-1"], pool.Item2.Select(r => r.Id).Order(StringComparer.Ordinal));
        foreach (var url in ProcessWorkers.ReadyProxyUrls(pool.Item1))
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{url}/x") { Headers = { Host = "phoenix.test" } };
            using var client = new HttpClient();
            using var response = await Eventually.Succeeds(async () =>
            {
                using var r = new HttpRequestMessage(HttpMethod.Get, $"{url}/x") { Headers = { Host = "phoenix.test" } };
                var answer = await client.SendAsync(r);
                return answer.StatusCode == HttpStatusCode.OK ? answer : throw new HttpRequestException($"{url}: {(int)answer.StatusCode}");
            }, TimeSpan.FromSeconds(60));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task A_worker_killed_while_it_drains_is_shown_gone_not_draining()
    {
        await using var backend = await TestBackend.StartAsync("drainkill");
        // A drain far longer than the test: the worker is still draining when it is killed, so it never says it leaves.
        await using var workers = await ProcessWorkers.StartAsync("scale-drain-kill", drainSeconds: 600);
        var admin = workers.Platform.Admin;
        await workers.Platform.CreateServiceAsync("drainkill", "drainkill.test", [backend]);
        await workers.ScaleAsync(2);
        await workers.WaitReadyAsync(2);

        await workers.ScaleAsync(1);
        // The worker itself has said it drains (its own report, not only the provider's view of the slot).
        await Eventually.Async(() => DataplaneStateAsync(admin, "default-1"), state => state == "draining", TimeSpan.FromSeconds(60),
            state => $"default-1 is {state}, not draining");
        var victim = workers.Running().Single(r => r.Id == "default-1");
        using (var process = Process.GetProcessById(victim.Pid))
            process.Kill();

        // Gone, on both views, once its stream has ended; and not started again: its slot was retired.
        var pool = await Eventually.Async(() => ProcessWorkers.PoolAsync(admin),
            p => p.GetProperty("workers").EnumerateArray().Any(w => w.GetProperty("id").GetString() == "default-1" && w.GetProperty("state").GetString() == "gone"),
            TimeSpan.FromSeconds(60), p => $"default-1 is not gone: {p}");
        Assert.Equal("gone", await DataplaneStateAsync(admin, "default-1"));
        Assert.Equal(1, pool.GetProperty("readyReplicas").GetInt32());
        Assert.Equal(["default-0"], workers.Running().Select(r => r.Id));
    }

    private static async Task<string?> DataplaneStateAsync(HttpClient admin, string worker)
    {
        using var list = JsonDocument.Parse(await admin.GetStringAsync("/v1/dataplanes"));
        return list.RootElement.GetProperty("items").EnumerateArray()
            .Where(i => i.GetProperty("id").GetString() == worker).Select(i => i.GetProperty("state").GetString()).FirstOrDefault();
    }

    [Fact]
    public async Task A_pool_scaled_to_0_stops_every_worker_and_scaled_back_to_1_serves_again()
    {
        await using var backend = await TestBackend.StartAsync("zero");
        await using var workers = await ProcessWorkers.StartAsync("scale-zero", drainSeconds: 0.5);
        await workers.Platform.CreateServiceAsync("zero", "zero.test", [backend]);
        await workers.ScaleAsync(1);
        await workers.WaitReadyAsync(1);

        await workers.ScaleAsync(0);
        var empty = await workers.WaitReadyAsync(0);
        Assert.Equal(0, empty.GetProperty("desiredReplicas").GetInt32());
        Assert.Empty(workers.Running());

        await workers.ScaleAsync(1);
        var pool = await workers.WaitReadyAsync(1);
        var url = Assert.Single(ProcessWorkers.ReadyProxyUrls(pool));
        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{url}/again") { Headers = { Host = "zero.test" } };
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Killing_the_silo_that_runs_the_reconciler_in_the_middle_of_a_scale_up_starts_no_worker_twice_and_reaches_the_target()
    {
        await using var workers = await ProcessWorkers.StartAsync("scale-failover", silos: 2,
            siloArgs: ["--Scaling:Process:WorkerArgs=--DataPlane:DrainSeconds=1 --ControlPlane:HeartbeatSeconds=1"]);
        var platform = workers.Platform;
        await workers.ScaleAsync(1);
        await workers.WaitReadyAsync(1);
        // The reconciler runs on the silo whose log shows the workers it started.
        var reconciling = platform.Silos.Single(s => s.Process.Output.Contains("started worker default-0", StringComparison.Ordinal));
        var survivor = platform.Silos.Single(s => s != reconciling);

        await workers.ScaleAsync(4, survivor);
        // Mid-scale: the reconciler has started the first of the new workers, not (yet) all of them.
        await Eventually.Async(() => workers.Running().Count > 1 || reconciling.Process.Output.Contains("started worker default-1", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), () => "the scale-up has not begun");
        await reconciling.Process.KillAsync();

        var pool = await workers.WaitReadyAsync(4, survivor, TimeSpan.FromSeconds(180));
        var running = workers.Running();
        Assert.Equal(["default-0", "default-1", "default-2", "default-3"], running.Select(r => r.Id).Order(StringComparer.Ordinal));
        Assert.Equal(4, pool.GetProperty("readyReplicas").GetInt32());
        Assert.Equal(0, pool.GetProperty("drift").GetInt32());
    }

    [Fact]
    public async Task A_merge_patch_changes_only_the_fields_it_names_and_bad_patches_change_nothing()
    {
        await using var workers = await ProcessWorkers.StartAsync("scale-patch");
        var admin = workers.Platform.Admin;
        var revision = await workers.Platform.PutOkAsync("/v1/pools/blue", new { limits = new { maxRequestBodyBytes = 1000 }, replicas = 0 });

        using (var patched = await ProcessWorkers.PatchAsync(admin, "blue", """{"autoscale": {"minReplicas": 0, "maxReplicas": 4, "targetRequestsPerSecondPerReplica": 100}}"""))
        {
            Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
            var body = JsonDocument.Parse(await patched.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(1000, body.GetProperty("limits").GetProperty("maxRequestBodyBytes").GetInt64());
            Assert.Equal(0, body.GetProperty("replicas").GetInt32());
            Assert.Equal(4, body.GetProperty("autoscale").GetProperty("maxReplicas").GetInt32());
            revision = long.Parse(patched.Headers.GetValues("X-Config-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture);
        }
        // null removes a field.
        using (var removed = await ProcessWorkers.PatchAsync(admin, "blue", """{"autoscale": null}"""))
        {
            Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
            var body = JsonDocument.Parse(await removed.Content.ReadAsStringAsync()).RootElement;
            Assert.False(body.TryGetProperty("autoscale", out _));
            Assert.Equal(1000, body.GetProperty("limits").GetProperty("maxRequestBodyBytes").GetInt64());
            revision = long.Parse(removed.Headers.GetValues("X-Config-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture);
        }

        foreach (var (patch, contentType, status, field) in new[]
        {
            ("""{"replicas": 1001}""", "application/merge-patch+json", 400, "replicas"),
            ("""{"replicas": -1}""", "application/merge-patch+json", 400, "replicas"),
            // The process provider runs at most Scaling:Process:MaxReplicas (32) on one machine.
            ("""{"replicas": 33}""", "application/merge-patch+json", 409, "replicas"),
            ("""{"autoscale": {"minReplicas": 3, "maxReplicas": 2, "targetRequestsPerSecondPerReplica": 10}}""", "application/merge-patch+json", 400, "autoscale.maxReplicas"),
            ("""{"autoscale": {"minReplicas": 1, "maxReplicas": 2, "targetRequestsPerSecondPerReplica": 0}}""", "application/merge-patch+json", 400, "autoscale.targetRequestsPerSecondPerReplica"),
            ("""{"replicaz": 2}""", "application/merge-patch+json", 400, "replicaz"),
            ("""{"replicas": "two"}""", "application/merge-patch+json", 400, "replicas"),
            ("""[1]""", "application/merge-patch+json", 400, ""),
            ("""{"replicas": 2""", "application/merge-patch+json", 400, ""),
            ("""{"replicas": 2}""", "text/plain", 400, "Content-Type"),
        })
        {
            using var refused = await ProcessWorkers.PatchAsync(admin, "blue", patch, contentType);
            var text = await refused.Content.ReadAsStringAsync();
            Assert.True((int)refused.StatusCode == status, $"{patch} ({contentType}): {(int)refused.StatusCode} {text}");
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            var problem = JsonDocument.Parse(text).RootElement;
            if (field.Length > 0)
                Assert.Contains(problem.GetProperty("errors").EnumerateArray(), e => e.GetProperty("field").GetString() == field);
        }
        using (var current = await admin.GetAsync("/v1/pools/blue"))
            Assert.Equal($"\"{revision}\"", current.Headers.ETag!.Tag);

        // The same over gRPC.
        using var channel = AdminGrpc.Channel(workers.Platform);
        var grpc = new ProxyPlatform.Protos.Admin.Admin.AdminClient(channel);
        var reply = await grpc.PatchPoolAsync(new ProxyPlatform.Protos.Admin.PatchPoolRequest { Pool = "blue", MergePatch = """{"replicas": 0, "limits": {"maxRequestBodyBytes": 2000}}""" });
        Assert.Equal(0, reply.Spec.Replicas);
        Assert.Equal(2000, reply.Spec.Limits.MaxRequestBodyBytes);
        var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await grpc.PatchPoolAsync(new ProxyPlatform.Protos.Admin.PatchPoolRequest { Pool = "blue", MergePatch = """{"replicas": 5000}""" }));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("replicas", error.Status.Detail, StringComparison.Ordinal);
        var got = await grpc.GetPoolAsync(new ProxyPlatform.Protos.Admin.PoolRef { Pool = "blue" });
        Assert.Equal("Process", got.Provider);
        Assert.Equal(0, got.Spec.Replicas);
    }
}
