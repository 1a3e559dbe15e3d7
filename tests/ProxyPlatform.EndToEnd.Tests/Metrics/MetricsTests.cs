using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client;
using Npgsql;
using ProxyPlatform.Testing;
using AdminPb = ProxyPlatform.Protos.Admin;
using static ProxyPlatform.EndToEnd.Tests.Metrics.MetricsFixture;

namespace ProxyPlatform.EndToEnd.Tests.Metrics;

[Collection(MetricsCollection.Name)]
public sealed class MetricsTests(MetricsFixture fixture)
{
    private static readonly string[] Classes = ["2xx", "4xx", "5xx"];

    /// <summary>Sends a known mix through both workers: api 6×200, 3×404, 2×500; site 4×200, 1×503. Returns the expected route counts.</summary>
    private async Task<Dictionary<string, Dictionary<string, long>>> SendMixAsync(string tenant, string host)
    {
        var first = fixture.First;
        var second = fixture.Second;
        await SendAsync(first, host, $"/api/status/200?t={tenant}", 200, 4);
        await SendAsync(second, host, $"/api/status/200?t={tenant}", 200, 2);
        await SendAsync(first, host, $"/api/status/404?t={tenant}", 404, 1);
        await SendAsync(second, host, $"/api/status/404?t={tenant}", 404, 2);
        await SendAsync(first, host, $"/api/status/500?t={tenant}", 500, 1);
        await SendAsync(second, host, $"/api/status/500?t={tenant}", 500, 1);
        await SendAsync(first, host, $"/status/200?t={tenant}", 200, 1);
        await SendAsync(second, host, $"/status/200?t={tenant}", 200, 3);
        await SendAsync(second, host, $"/status/503?t={tenant}", 503, 1);
        return new()
        {
            ["api"] = new() { ["2xx"] = 6, ["4xx"] = 3, ["5xx"] = 2 },
            ["site"] = new() { ["2xx"] = 4, ["5xx"] = 1 },
        };
    }

    private static bool Matches(JsonNode? summary, Dictionary<string, long> expected) =>
        Classes.All(c => Count(summary, c) == expected.GetValueOrDefault(c));

    [Fact]
    public async Task Tenant_metrics_show_exactly_the_requests_sent_through_two_workers_by_route_backend_worker_and_status_class()
    {
        const string tenant = "mx-count";
        await fixture.ServiceAsync(tenant, "mx-count.test");
        var expected = await SendMixAsync(tenant, "mx-count.test");
        var total = new Dictionary<string, long> { ["2xx"] = 10, ["4xx"] = 3, ["5xx"] = 3 };

        var metrics = await fixture.MetricsWhenAsync(tenant, m => Matches(m["totals"], total)
            && Matches(Route(m, "api"), expected["api"]) && Matches(Route(m, "site"), expected["site"])
            && Count(Backend(m, "a"), "2xx") + Count(Backend(m, "b"), "2xx") == 10
            && Count(WorkerOf(m, "metrics-2"), "2xx") == 5);

        Assert.Equal(16, metrics["totals"]!["requests"]!.GetValue<long>());
        foreach (var statusClass in Classes)
        {
            Assert.Equal(total[statusClass], Count(metrics["totals"], statusClass));
            Assert.Equal(expected["api"].GetValueOrDefault(statusClass), Count(Route(metrics, "api"), statusClass));
            Assert.Equal(expected["site"].GetValueOrDefault(statusClass), Count(Route(metrics, "site"), statusClass));
            // Each backend's series counts exactly what that backend answered (no retries here: 5xx are not retried by default).
            Assert.Equal(fixture.A.Answered(tenant, statusClass), Count(Backend(metrics, "a"), statusClass));
            Assert.Equal(fixture.B.Answered(tenant, statusClass), Count(Backend(metrics, "b"), statusClass));
        }
        Assert.True(fixture.A.Answered(tenant, "2xx") > 0 && fixture.B.Answered(tenant, "2xx") > 0, "round robin used only one backend");
        Assert.Equal(7, WorkerOf(metrics, "metrics-1")!["requests"]!.GetValue<long>());
        Assert.Equal(9, WorkerOf(metrics, "metrics-2")!["requests"]!.GetValue<long>());
        // Latency percentiles are estimated from the histogram.
        Assert.NotNull(metrics["totals"]!["latency"]!["p99Ms"]);
        Assert.True(metrics["totals"]!["latency"]!["p50Ms"]!.GetValue<double>() <= metrics["totals"]!["latency"]!["p99Ms"]!.GetValue<double>());

        // The gRPC admin API answers the same.
        using var channel = AdminGrpc.Channel(fixture.Platform);
        var grpc = await new AdminPb.Admin.AdminClient(channel).GetTenantMetricsAsync(new AdminPb.TenantRef { Tenant = tenant });
        Assert.Equal(16, grpc.Totals.Requests);
        Assert.Equal(3, grpc.Totals.ByStatusClass["4xx"]);
        Assert.Equal(2, grpc.Routes.Single(r => r.Route == "api").Traffic.ByStatusClass["5xx"]);
        Assert.True(grpc.Totals.HasLatencyP99Ms);
    }

    [Fact]
    public async Task Bytes_of_bodies_without_a_content_length_are_counted_as_they_pass()
    {
        const string tenant = "mx-bytes";
        await fixture.ServiceAsync(tenant, "mx-bytes.test");
        const int requests = 4, upload = 10_000;
        for (var i = 0; i < requests; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"{fixture.First.ProxyUrl}/api/status/200?t={tenant}&chunked=1")
            {
                // A stream of unknown length goes out chunked.
                Content = new StreamContent(new NoLengthStream(new byte[upload])),
            };
            request.Headers.Host = "mx-bytes.test";
            using var response = await fixture.First.Client.SendAsync(request);
            Assert.Equal(200, (int)response.StatusCode);
            Assert.True(response.Headers.TransferEncodingChunked, "the answer should be passed on chunked");
            Assert.Matches("^[ab] 200$", await response.Content.ReadAsStringAsync());
        }

        // Each answer is "a 200" or "b 200": 5 bytes.
        var metrics = await fixture.MetricsWhenAsync(tenant, m => Route(m, "api")?["requests"]?.GetValue<long>() == requests);
        Assert.Equal(requests * upload, Route(metrics, "api")!["bytesIn"]!.GetValue<long>());
        Assert.Equal(requests * 5, Route(metrics, "api")!["bytesOut"]!.GetValue<long>());
        Assert.Equal(requests * upload, Backend(metrics, "a")!["bytesIn"]!.GetValue<long>() + Backend(metrics, "b")!["bytesIn"]!.GetValue<long>());
        Assert.Equal(requests * 5, Backend(metrics, "a")!["bytesOut"]!.GetValue<long>() + Backend(metrics, "b")!["bytesOut"]!.GetValue<long>());
    }

    /// <summary>A readable stream that does not tell its length, so HttpClient sends it chunked.</summary>
    private sealed class NoLengthStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }

    [Fact]
    public async Task A_report_reaching_many_tenants_at_once_is_stored_over_a_few_connections_of_the_metrics_pool()
    {
        const int tenants = 30;
        var revision = 0L;
        for (var t = 0; t < tenants; t++)
        {
            await fixture.Platform.PutOkAsync($"/v1/tenants/burst{t}", new { hostnames = new[] { $"burst{t}.test" } });
            await fixture.Platform.PutOkAsync($"/v1/tenants/burst{t}/clusters/web", new { });
            await fixture.Platform.PutOkAsync($"/v1/tenants/burst{t}/clusters/web/backends/a", new { address = fixture.A.Address });
            revision = await fixture.Platform.PutOkAsync($"/v1/tenants/burst{t}/routes/site", new { match = new { pathPrefix = "/" }, cluster = "web" });
        }
        await fixture.First.WaitForRevisionAsync(revision);

        // The metrics pool's connections to this platform's database, sampled until every tenant's
        // request is stored: its one report reaches all 30 tenants' grains at once.
        await using var db = NpgsqlDataSource.Create(fixture.Platform.ConnectionString);
        var peak = 0L;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            await using var count = db.CreateCommand(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '%-metrics'");
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, (long)(await count.ExecuteScalarAsync())!);
                await Task.Delay(10);
            }
        });
        for (var t = 0; t < tenants; t++)
            await SendAsync(fixture.First, $"burst{t}.test", "/status/200", 200, 1);
        for (var t = 0; t < tenants; t++)
            Assert.Equal(1, Count((await fixture.MetricsWhenAsync($"burst{t}", m => Count(m["totals"], "2xx") == 1))["totals"], "2xx"));
        // Each grain writes its state 1-3 s after activating, over the metrics pool: sample until every
        // one of them has.
        await using (var flushed = db.CreateCommand(
            "SELECT count(*) FROM grain_state WHERE state_name = 'metrics' AND grain_key LIKE 'burst%'"))
        {
            await Eventually.Async(async () => (long)(await flushed.ExecuteScalarAsync())!, n => n == tenants, null,
                n => $"only {n} of the {tenants} tenants' metrics grains have written their state");
        }
        await sampling.CancelAsync();
        await sampler;

        // PostgresPools.MetricsConnections; idle connections stay in the pool for 10 s, so a sample
        // every 10 ms sees the largest number open.
        Assert.InRange(peak, 1, 4);
    }

    [Fact]
    public async Task Traffic_history_shows_each_routes_rates_by_status_class_and_latency_step_by_step()
    {
        const string tenant = "mx-history";
        const string host = "mx-history.test";
        await fixture.ServiceAsync(tenant, host);
        // The history steps from the totals the control plane already has: the first requests set the base.
        await SendAsync(fixture.First, host, $"/api/status/200?t={tenant}", 200, 1);
        await fixture.MetricsWhenAsync(tenant, m => Count(Route(m, "api"), "2xx") == 1);
        await SendAsync(fixture.First, host, $"/api/status/200?t={tenant}", 200, 6);
        await SendAsync(fixture.Second, host, $"/api/status/404?t={tenant}", 404, 3);

        static double Sum(JsonNode history, string route, string statusClass) =>
            history["routes"]!.AsArray().Where(r => r!["route"]!.GetValue<string>() == route)
                .SelectMany(r => r!["points"]!.AsArray()).Sum(p => p!["ratePerStatusClass"]![statusClass]!.GetValue<double>());
        var history = await Eventually.Async(async () =>
        {
            using var response = await fixture.Platform.Silos[0].Admin.GetAsync($"/v1/tenants/{tenant}/metrics/history?window=15m");
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"GET metrics/history answered {(int)response.StatusCode}: {text}");
            return JsonNode.Parse(text)!;
        }, h => Sum(h, "api", "2xx") > 0 && Sum(h, "api", "4xx") > 0, null, h => $"the history of {tenant} is still {h.ToJsonString()}");

        Assert.Equal(5, history["stepSeconds"]!.GetValue<int>());
        // Routes are there once a worker reported them: site has had no request at all.
        Assert.Equal(["api"], history["routes"]!.AsArray().Select(r => r!["route"]!.GetValue<string>()));
        var points = history["routes"]![0]!["points"]!.AsArray();
        Assert.All(points, p => Assert.Equal(["1xx", "2xx", "3xx", "4xx", "5xx"], p!["ratePerStatusClass"]!.AsObject().Select(c => c.Key)));
        var busy = points.Where(p => p!["requestsPerSecond"]!.GetValue<double>() > 0).ToList();
        Assert.NotEmpty(busy);
        Assert.All(busy, p => Assert.NotNull(p!["latency"]!["p99Ms"]));

        using var channel = AdminGrpc.Channel(fixture.Platform);
        var grpc = await new AdminPb.Admin.AdminClient(channel).GetTenantTrafficHistoryAsync(new AdminPb.TrafficHistoryRequest { Tenant = tenant, WindowSeconds = 900 });
        Assert.Equal(["api"], grpc.Routes.Select(r => r.Route));
        Assert.Contains(grpc.Routes[0].Points, p => p.RatePerStatusClass["4xx"] > 0 && p.HasLatencyP50Ms);

        using var bad = await fixture.Platform.Silos[0].Admin.GetAsync($"/v1/tenants/{tenant}/metrics/history?window=16m");
        Assert.Equal(400, (int)bad.StatusCode);
        Assert.Contains("window", await bad.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Metrics_of_an_unknown_tenant_are_404_problem_json()
    {
        using var response = await fixture.Platform.Silos[0].Admin.GetAsync("/v1/tenants/mx-nobody/metrics");
        Assert.Equal(404, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);

        using var channel = AdminGrpc.Channel(fixture.Platform);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await new AdminPb.Admin.AdminClient(channel).GetTenantMetricsAsync(new AdminPb.TenantRef { Tenant = "mx-nobody" }));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }

    [Fact]
    public async Task Workers_and_the_control_plane_serve_the_request_counters_as_Prometheus_text_and_the_proxy_port_does_not()
    {
        const string tenant = "mx-prom";
        await fixture.ServiceAsync(tenant, "mx-prom.test");
        var expected = await SendMixAsync(tenant, "mx-prom.test");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        // The first worker's own counters: api 4×2xx, 1×4xx, 1×5xx; site 1×2xx.
        using var scrape = await http.GetAsync($"{fixture.First.OpsUrl}/metrics");
        var text = await scrape.Content.ReadAsStringAsync();
        Assert.True(scrape.IsSuccessStatusCode, text);
        var mediaType = scrape.Content.Headers.ContentType!.ToString();
        Assert.True(mediaType.StartsWith("text/plain", StringComparison.Ordinal) || mediaType.StartsWith("application/openmetrics-text", StringComparison.Ordinal), mediaType);
        Assert.Equal(4, Scraped(text, "proxyplatform_requests_total", ("tenant", tenant), ("route", "api"), ("status_class", "2xx")));
        Assert.Equal(1, Scraped(text, "proxyplatform_requests_total", ("tenant", tenant), ("route", "api"), ("status_class", "4xx")));
        Assert.Equal(1, Scraped(text, "proxyplatform_requests_total", ("tenant", tenant), ("route", "api"), ("status_class", "5xx")));
        Assert.Equal(1, Scraped(text, "proxyplatform_requests_total", ("tenant", tenant), ("route", "site"), ("status_class", "2xx")));
        Assert.Equal(7, Scraped(text, "proxyplatform_backend_requests_total", ("tenant", tenant), ("cluster", "web")));
        Assert.Equal(6, Scraped(text, "proxyplatform_request_duration_bucket_total", ("tenant", tenant), ("route", "api"), ("le", "+Inf")));

        // The control plane's: what both workers reported to it.
        var controlPlane = await Eventually.Async(async () =>
        {
            using var response = await http.GetAsync($"{fixture.Platform.Silos[0].OpsUrl}/metrics");
            var received = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, received);
            return received;
        }, received => expected.All(route => Classes.All(c => Scraped(received, "proxyplatform_requests_total", ("tenant", tenant), ("route", route.Key), ("status_class", c)) == route.Value.GetValueOrDefault(c))),
            null, received => $"the control plane's /metrics does not show the requests sent:\n{received}");
        foreach (var statusClass in Classes)
        {
            Assert.Equal(expected["api"].GetValueOrDefault(statusClass), Scraped(controlPlane, "proxyplatform_requests_total", ("tenant", tenant), ("route", "api"), ("status_class", statusClass)));
            Assert.Equal(expected["site"].GetValueOrDefault(statusClass), Scraped(controlPlane, "proxyplatform_requests_total", ("tenant", tenant), ("route", "site"), ("status_class", statusClass)));
        }
        Assert.Contains("http_server_request_duration_seconds", controlPlane, StringComparison.Ordinal);

        // The proxy port has no ops endpoints: /metrics there is just a request with no route.
        using var onProxy = await fixture.First.GetAsync("127.0.0.1", "/metrics");
        Assert.Equal(404, (int)onProxy.StatusCode);
        Assert.DoesNotContain("proxyplatform_requests_total", await onProxy.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_proxied_request_logs_JSON_lines_carrying_its_request_id_route_cluster_and_backend()
    {
        const string tenant = "mx-log";
        await fixture.ServiceAsync(tenant, "mx-log.test");
        var requestId = $"mx-log-{Guid.NewGuid():N}";
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"/api/status/200?t={tenant}"))
        {
            request.Headers.Host = "mx-log.test";
            request.Headers.Add("X-Request-ID", requestId);
            using var response = await fixture.First.Client.SendAsync(request);
            Assert.Equal(200, (int)response.StatusCode);
        }

        var scope = await Eventually.Async(() => Task.FromResult(fixture.First.Process.Output.Split('\n')
                .Where(line => line.Contains(requestId, StringComparison.Ordinal))
                .Select(line => JsonNode.Parse(line)!.AsObject()["Scopes"]?.AsArray().OfType<JsonObject>().FirstOrDefault(s => s["RequestId"]?.GetValue<string>() == requestId))
                .FirstOrDefault(found => found is not null)),
            found => found is not null, null, _ => $"no JSON log line carries request ID {requestId}:\n{fixture.First.Process.Output}");
        Assert.NotNull(scope);
        Assert.Equal($"{tenant}/api", scope["Route"]!.GetValue<string>());
        Assert.Equal($"{tenant}/web", scope["Cluster"]!.GetValue<string>());
        Assert.Contains(scope["Backend"]!.GetValue<string>(), new[] { "a", "b" });
    }

    [Fact]
    public async Task Counts_stay_exact_when_the_control_plane_restarts_and_the_workers_reconnect()
    {
        const string tenant = "mx-restart";
        await fixture.ServiceAsync(tenant, "mx-restart.test");
        await SendAsync(fixture.First, "mx-restart.test", $"/api/status/200?t={tenant}", 200, 5);
        await SendAsync(fixture.Second, "mx-restart.test", $"/api/status/404?t={tenant}", 404, 3);
        var before = await fixture.MetricsWhenAsync(tenant, m => Count(m["totals"], "2xx") == 5 && Count(m["totals"], "4xx") == 3);
        Assert.Equal(5, Count(before["totals"], "2xx"));
        Assert.Equal(3, Count(before["totals"], "4xx"));

        // A crash: the grain's state is whatever was last written; the workers keep serving and counting.
        await fixture.Platform.KillControlPlaneAsync();
        await SendAsync(fixture.First, "mx-restart.test", $"/api/status/200?t={tenant}", 200, 2);
        await SendAsync(fixture.Second, "mx-restart.test", $"/status/500?t={tenant}", 500, 1);
        await fixture.Platform.StartControlPlaneAsync();
        await SendAsync(fixture.Second, "mx-restart.test", $"/api/status/200?t={tenant}", 200, 4);

        var after = await fixture.MetricsWhenAsync(tenant, m => Count(m["totals"], "2xx") == 11 && Count(m["totals"], "4xx") == 3 && Count(m["totals"], "5xx") == 1,
            TimeSpan.FromSeconds(60));
        Assert.Equal(11, Count(after["totals"], "2xx"));

        // Every worker re-reported everything on its new stream. One more request through each, and
        // once both workers' next reports are in, nothing has been counted twice.
        await SendAsync(fixture.First, "mx-restart.test", $"/status/200?t={tenant}", 200, 1);
        await SendAsync(fixture.Second, "mx-restart.test", $"/status/200?t={tenant}", 200, 1);
        var settled = await fixture.MetricsWhenAsync(tenant,
            m => Count(WorkerOf(m, "metrics-1"), "2xx") >= 8 && Count(WorkerOf(m, "metrics-2"), "2xx") >= 5, TimeSpan.FromSeconds(60));
        Assert.Equal(13, Count(settled["totals"], "2xx"));
        Assert.Equal(3, Count(settled["totals"], "4xx"));
        Assert.Equal(1, Count(settled["totals"], "5xx"));
        Assert.Equal(17, settled["totals"]!["requests"]!.GetValue<long>());
        Assert.Equal(14, Count(Route(settled, "api"), "2xx") + Count(Route(settled, "api"), "4xx"));
    }
}
