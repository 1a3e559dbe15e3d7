using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using ProxyPlatform.EndToEnd.Tests.Proxy;
using ProxyPlatform.Testing;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.EndToEnd.Tests.Health;

[Collection(ProxyCollection.Name)]
public sealed class HealthTests(ProxyFixture proxy)
{
    private readonly HealthPlatform _health = new(proxy.Platform);

    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    private Worker[] TwoWorkers => [proxy.Edge, proxy.Plain];

    /// <summary>Probes every 0.4 s, two in a row decide; idempotent requests are retried on another backend.</summary>
    private static object Spec(bool panic = false) => new
    {
        loadBalancing = "RoundRobin",
        healthCheck = new
        {
            path = SwitchableBackend.HealthPath, intervalSeconds = 0.4, timeoutSeconds = 0.4,
            healthyThreshold = 2, unhealthyThreshold = 2, expectedStatus = "200-299", panic,
        },
        retry = new { maxAttempts = 3, retryOn = new[] { "connect-failure", "reset", "502", "503", "504" } },
    };

    [Fact]
    public async Task A_backend_failing_its_health_check_gets_no_traffic_from_either_worker_and_traffic_again_once_it_recovers()
    {
        await using var a = await SwitchableBackend.StartAsync("a");
        await using var b = await SwitchableBackend.StartAsync("b");
        await _health.ServiceAsync("hc-eject", "hc-eject.test", Spec(), ("a", a.Address), ("b", b.Address));
        await _health.WaitForBackendsAsync("hc-eject", l => l.Values.All(x => HealthPlatform.Verdict(x) == "Healthy"), Settle);

        // How soon is a benchmark's question; here only that it happens.
        a.Failing = true;
        await Eventually.Async(async () =>
        {
            var before = a.Traffic;
            var onlyB = true;
            foreach (var worker in TwoWorkers)
                onlyB &= (await AnswerersAsync(worker, "hc-eject.test", 6)).All(name => name == "b");
            return onlyB && a.Traffic == before;
        }, Settle, () => "a worker still sends to the failing backend");
        var ejected = a.Traffic;
        foreach (var worker in TwoWorkers)
            Assert.All(await AnswerersAsync(worker, "hc-eject.test", 10), name => Assert.Equal("b", name));
        Assert.Equal(ejected, a.Traffic);

        a.Failing = false;
        await Eventually.Async(async () =>
        {
            var back = true;
            foreach (var worker in TwoWorkers)
                back &= (await AnswerersAsync(worker, "hc-eject.test", 4)).Contains("a");
            return back;
        }, Settle, () => "a worker still sends nothing to the recovered backend");

        var history = await _health.HistoryAsync("hc-eject", "a");
        Assert.True(history.Length >= 3, JsonSerializer.Serialize(history));
        Assert.Equal(["Healthy", "Unhealthy", "Healthy"], history.Take(3).Select(h => h.GetProperty("verdict").GetString()));
        foreach (var (change, majority) in new[] { (history[0], "passing"), (history[1], "failing") })
        {
            var reporting = change.GetProperty("reporting").GetInt32();
            Assert.True(reporting >= 2, JsonSerializer.Serialize(change));
            Assert.True(change.GetProperty(majority).GetInt32() * 2 > reporting, JsonSerializer.Serialize(change));
            Assert.True(change.GetProperty("revision").GetInt64() > 0);
        }
        Assert.True(history[0].GetProperty("at").GetDateTimeOffset() > history[1].GetProperty("at").GetDateTimeOffset());
    }

    [Fact]
    public async Task A_worker_that_cannot_reach_a_backend_does_not_eject_it_for_the_others_and_its_view_is_shown()
    {
        var partitioned = await proxy.PartitionedAsync();
        await using var p = await SwitchableBackend.StartAsync("p", refused: IPAddress.Parse(ProxyFixture.PartitionedAddress));
        await using var q = await SwitchableBackend.StartAsync("q");
        await _health.ServiceAsync("hc-partition", "hc-partition.test", Spec(), ("p", p.Address), ("q", q.Address));

        var backends = await _health.WaitForBackendsAsync("hc-partition", l =>
        {
            var views = HealthPlatform.Views(l["p"]);
            return views.GetValueOrDefault(proxy.Edge.Id) == "passing" && views.GetValueOrDefault(proxy.Plain.Id) == "passing"
                && views.GetValueOrDefault(partitioned.Id) == "failing";
        }, Settle);
        Assert.Equal("Healthy", HealthPlatform.Verdict(backends["p"]));
        var dissent = backends["p"].GetProperty("health").GetProperty("workers").EnumerateArray()
            .Single(w => w.GetProperty("worker").GetString() == partitioned.Id);
        Assert.False(string.IsNullOrEmpty(dissent.GetProperty("reason").GetString()), dissent.ToString());
        Assert.Equal("passing", HealthPlatform.Views(backends["q"])[partitioned.Id]);
        using (var channel = AdminGrpc.Channel(_health.Platform))
        {
            var listed = await new AdminPb.Admin.AdminClient(channel).ListBackendsAsync(new AdminPb.ListBackendsRequest { Tenant = "hc-partition", Cluster = "web" });
            var pb = listed.Backends.Single(b => b.Backend == "p");
            Assert.Equal("Healthy", pb.Health);
            Assert.True(pb.HealthSinceUnixMs > 0);
            Assert.Equal("failing", pb.Workers.Single(w => w.Worker == partitioned.Id).State);
        }

        // Two more of the dissenting worker's reports later, each still saying p fails, the other two
        // still send to it and the verdict holds.
        var reports = new HashSet<string>();
        await Eventually.Async(async () =>
        {
            foreach (var worker in TwoWorkers)
                Assert.Contains("p", await AnswerersAsync(worker, "hc-partition.test", 4));
            var p = (await _health.BackendsAsync("hc-partition"))["p"];
            Assert.Equal("Healthy", HealthPlatform.Verdict(p));
            var view = p.GetProperty("health").GetProperty("workers").EnumerateArray().Single(w => w.GetProperty("worker").GetString() == partitioned.Id);
            Assert.Equal("failing", view.GetProperty("view").GetString());
            reports.Add(view.GetProperty("reportedAt").GetString()!);
            // The first report seen is where the count starts.
            return reports.Count > 2;
        }, Settle, () => $"the partitioned worker's reports of p stopped at {string.Join(", ", reports)}");
        Assert.DoesNotContain("Unhealthy", (await _health.HistoryAsync("hc-partition", "p")).Select(h => h.GetProperty("verdict").GetString()));
    }

    [Fact]
    public async Task Steady_GET_traffic_sees_no_error_while_a_backend_fails_recovers_and_another_is_killed()
    {
        await using var failing = await SwitchableBackend.StartAsync("f");
        await using var steady = await SwitchableBackend.StartAsync("s");
        HttpBinServer? killed = await HttpBinServer.StartAsync();
        try
        {
            await _health.ServiceAsync("hc-steady", "hc-steady.test", Spec(), ("f", failing.Address), ("k", killed.Address), ("s", steady.Address));
            await _health.WaitForBackendsAsync("hc-steady", l => l.Values.All(x => HealthPlatform.Verdict(x) == "Healthy"), Settle);

            var errors = new ConcurrentQueue<string>();
            var answered = 0;
            using var stop = new CancellationTokenSource();
            var traffic = TwoWorkers.Select(worker => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        using var response = await worker.GetAsync("hc-steady.test", "/anything/steady");
                        if (response.StatusCode == HttpStatusCode.OK)
                            Interlocked.Increment(ref answered);
                        else
                            errors.Enqueue($"{worker.Id}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                    }
                    catch (Exception ex)
                    {
                        errors.Enqueue($"{worker.Id}: {ex.Message}");
                    }
                    await Task.Delay(10);
                }
            })).ToArray();

            failing.Failing = true;
            await _health.WaitForBackendsAsync("hc-steady", l => HealthPlatform.Verdict(l["f"]) == "Unhealthy", Settle);
            failing.Failing = false;
            await _health.WaitForBackendsAsync("hc-steady", l => HealthPlatform.Verdict(l["f"]) == "Healthy", Settle);
            // httpbin is a process of its own: killed outright, its connections break mid-stream.
            await killed.DisposeAsync();
            killed = null;
            await _health.WaitForBackendsAsync("hc-steady", l => HealthPlatform.Verdict(l["k"]) == "Unhealthy", Settle);
            // Traffic goes on past the verdict: 50 more answers, however long they take.
            var atVerdict = Volatile.Read(ref answered);
            await Eventually.Async(() => Volatile.Read(ref answered) >= atVerdict + 50 || !errors.IsEmpty, Settle,
                () => $"only {Volatile.Read(ref answered) - atVerdict} requests were answered after the verdict");

            await stop.CancelAsync();
            await Task.WhenAll(traffic);
            Assert.True(errors.IsEmpty, string.Join("\n", errors.Take(10)));
            Assert.True(answered > 50, $"only {answered} requests were answered");
        }
        finally
        {
            if (killed is not null)
                await killed.DisposeAsync();
        }
    }

    [Fact]
    public async Task Every_backend_Unhealthy_answers_503_problem_json_and_with_panic_traffic_still_flows()
    {
        await using var x = await SwitchableBackend.StartAsync("x");
        await using var y = await SwitchableBackend.StartAsync("y");
        x.Failing = y.Failing = true;
        await _health.ServiceAsync("hc-panic", "hc-panic.test", Spec(), ("x", x.Address), ("y", y.Address));

        foreach (var worker in TwoWorkers)
        {
            using var response = await worker.WaitForStatusAsync("hc-panic.test", "/", 503, Settle);
            var problem = await ProxyProblem.AssertAsync(response, 503, "no-backend", "hc-panic/main", "hc-panic/web",
                x.Address, y.Address);
            Assert.Contains("health", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        await _health.ServedAsync(await _health.Platform.PutOkAsync("/v1/tenants/hc-panic/clusters/web", Spec(panic: true)));
        foreach (var worker in TwoWorkers)
        {
            var answerers = await AnswerersAsync(worker, "hc-panic.test", 6);
            Assert.Contains("x", answerers);
            Assert.Contains("y", answerers);
        }
        Assert.All((await _health.BackendsAsync("hc-panic")).Values, b => Assert.Equal("Unhealthy", HealthPlatform.Verdict(b)));

        // The verdicts go with their cluster: workers take the removal in stride, and a cluster made again starts Unknown.
        var nacks = (await proxy.Edge.StatsAsync()).NacksSent;
        using (var route = await _health.Platform.Admin.DeleteAsync("/v1/tenants/hc-panic/routes/main"))
            Assert.Equal(HttpStatusCode.NoContent, route.StatusCode);
        using (var cluster = await _health.Platform.Admin.DeleteAsync("/v1/tenants/hc-panic/clusters/web"))
        {
            Assert.Equal(HttpStatusCode.NoContent, cluster.StatusCode);
            await _health.ServedAsync(long.Parse(cluster.Headers.GetValues("X-Config-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.Equal(nacks, (await proxy.Edge.StatsAsync()).NacksSent);
        await _health.Platform.PutOkAsync("/v1/tenants/hc-panic/clusters/web", new { loadBalancing = "RoundRobin" });
        await _health.Platform.PutOkAsync("/v1/tenants/hc-panic/clusters/web/backends/x", new { address = x.Address });
        Assert.Equal("Unknown", HealthPlatform.Verdict((await _health.BackendsAsync("hc-panic"))["x"]));
        Assert.Empty(await _health.HistoryAsync("hc-panic", "x"));
    }

    [Fact]
    public async Task A_drained_backend_gets_no_new_requests_while_its_slow_request_in_flight_completes()
    {
        await using var drained = await SwitchableBackend.StartAsync("d");
        await using var other = await SwitchableBackend.StartAsync("e");
        await _health.Platform.PutOkAsync("/v1/tenants/hc-drain", new { hostnames = new[] { "hc-drain.test" } });
        await _health.Platform.PutOkAsync("/v1/tenants/hc-drain/clusters/web", new { loadBalancing = "RoundRobin" });
        await _health.Platform.PutOkAsync("/v1/tenants/hc-drain/clusters/web/backends/d", new { address = drained.Address });
        await _health.Platform.PutOkAsync("/v1/tenants/hc-drain/clusters/web/backends/e", new { address = other.Address, enabled = false });
        await _health.ServedAsync(await _health.Platform.PutOkAsync("/v1/tenants/hc-drain/routes/main", new { match = new { pathPrefix = "/" }, cluster = "web" }));

        // Held by the backend until the test lets it go: in flight for as long as the drain takes.
        var slow = proxy.Edge.GetAsync("hc-drain.test", SwitchableBackend.HeldPath);
        await Eventually.Async(() => drained.Traffic == 1, null, () => "the slow request did not reach the backend");

        await _health.Platform.PutOkAsync("/v1/tenants/hc-drain/clusters/web/backends/e", new { address = other.Address, enabled = true });
        await _health.ServedAsync(await _health.Platform.PutOkAsync("/v1/tenants/hc-drain/clusters/web/backends/d", new { address = drained.Address, enabled = false }));
        Assert.False(slow.IsCompleted, "the held request ended before the drain; the test proves nothing");
        foreach (var worker in TwoWorkers)
            Assert.All(await AnswerersAsync(worker, "hc-drain.test", 10), name => Assert.Equal("e", name));
        Assert.Equal(1, drained.Traffic);

        drained.ReleaseHeld();
        using var response = await slow;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("d", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Bad_health_input_is_a_problem_naming_the_field_and_changes_nothing()
    {
        await _health.Platform.PutOkAsync("/v1/tenants/hc-admin", new { hostnames = new[] { "hc-admin.test" } });
        using (var response = await _health.Platform.PutAsync("/v1/tenants/hc-admin/clusters/web",
            new { healthCheck = new { path = "/healthz", intervalSeconds = 0.1, expectedStatus = "2xx" } }))
        {
            var problem = await ProblemAsync(response, 400);
            var fields = problem.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("field").GetString()).ToList();
            Assert.Contains("healthCheck.intervalSeconds", fields);
            Assert.Contains("healthCheck.expectedStatus", fields);
        }
        using (var missing = await _health.Platform.Admin.GetAsync("/v1/tenants/hc-admin/clusters/web"))
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        await _health.Platform.PutOkAsync("/v1/tenants/hc-admin/clusters/web", new { });
        foreach (var (path, field) in new[]
        {
            ("/v1/tenants/hc-admin/clusters/web/backends/a/health-history?limit=0", "limit"),
            ("/v1/tenants/hc-admin/clusters/web/backends/a/health-history?limit=lots", "limit"),
            ("/v1/tenants/hc-admin/clusters/web/backends/Not_An_Id/health-history", "backend"),
        })
        {
            using var response = await _health.Platform.Admin.GetAsync(path);
            Assert.Equal(field, (await ProblemAsync(response, 400)).GetProperty("field").GetString());
        }
        using (var unknown = await _health.Platform.Admin.GetAsync("/v1/tenants/hc-admin/clusters/nope/backends/a/health-history"))
            await ProblemAsync(unknown, 404);
        using (var channel = AdminGrpc.Channel(_health.Platform))
        {
            var rejected = await Assert.ThrowsAsync<RpcException>(async () => await new AdminPb.Admin.AdminClient(channel).GetBackendHealthHistoryAsync(
                new AdminPb.BackendHealthHistoryRequest { Tenant = "hc-admin", Cluster = "web", Backend = "a", Limit = 0 }));
            Assert.Equal(StatusCode.InvalidArgument, rejected.StatusCode);
            Assert.Equal("limit", rejected.Trailers.GetValue("field"));
        }
        Assert.Empty(await _health.HistoryAsync("hc-admin", "a"));
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, int status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == (int)response.StatusCode, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Which backend answered each of <paramref name="count"/> GETs through <paramref name="worker"/>; every one must be a 200.</summary>
    private static async Task<List<string>> AnswerersAsync(Worker worker, string host, int count)
    {
        var names = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            using var response = await worker.GetAsync(host, "/");
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{worker.Id} answered {(int)response.StatusCode}: {text}");
            names.Add(text);
        }
        return names;
    }
}
