using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Access;

/// <summary>
/// Workers are admitted by credential: a pool token opens a stream for its own pool only, a stream
/// without one gets nothing, and what a worker reports counts only for its own pool's resources.
/// </summary>
public sealed class WorkerCredentialTests
{
    [Fact]
    public async Task A_pool_token_admits_its_own_pool_and_no_other_and_a_stream_without_a_token_gets_nothing()
    {
        await using var platform = await Platform.StartAsync("pooltokens", workers: 0);
        await using var backend = await TestBackend.StartAsync("pt");
        await platform.CreateServiceAsync("pt", "pt.test", [backend]);
        var token = await IssuePoolTokenAsync(platform, "default");

        // Its own pool: served.
        var good = await platform.StartWorkerAsync("pt-good", 0, $"--DataPlane:Token={token}");
        (await good.WaitForStatusAsync("pt.test", "/", 200)).Dispose();

        // Another pool: refused on the stream, so never configured.
        var elsewhere = await platform.StartWorkerAsync("pt-elsewhere", 0, $"--DataPlane:Token={token}", "--DataPlane:Pool=other");
        await Eventually.Async(() => elsewhere.Process.Output.Contains("PermissionDenied", StringComparison.Ordinal), null,
            () => $"the worker of pool 'other' was not refused:\n{elsewhere.Process.Output}");
        Assert.False((await elsewhere.StatsAsync()).Connected);

        // No token at all: nothing.
        using var channel = GrpcChannel.ForAddress(platform.GrpcUrl);
        using var call = new ConfigStream.ConfigStreamClient(channel).Connect();
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(new WorkerMessage { Hello = new Hello { WorkerId = "anonymous", Pool = "default" } });
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
    }

    [Fact]
    public async Task A_revoked_pool_token_closes_its_streams_and_opens_no_new_one()
    {
        await using var platform = await Platform.StartAsync("revoketoken", workers: 0);
        await using var backend = await TestBackend.StartAsync("rt");
        await platform.CreateServiceAsync("rt", "rt.test", [backend]);
        var issued = await IssueAsync(platform, "default");
        var worker = await platform.StartWorkerAsync("rt-worker", 0, $"--DataPlane:Token={issued["secret"]}");
        (await worker.WaitForStatusAsync("rt.test", "/", 200)).Dispose();

        using (var revoke = await platform.Admin.DeleteAsync($"/v1/pools/default/tokens/{issued["id"]}"))
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);

        await Eventually.Async(async () => !(await worker.StatsAsync()).Connected, null, () => "the worker is still streaming with a revoked token");
        await Eventually.Async(() => worker.Process.Output.Contains("Unauthenticated", StringComparison.Ordinal), null,
            () => $"the worker's reconnect was not refused:\n{worker.Process.Output}");
        // It keeps serving what it had: revoking a worker's token stops its updates, not its traffic.
        (await worker.WaitForStatusAsync("rt.test", "/", 200)).Dispose();
    }

    [Fact]
    public async Task Health_reports_count_only_from_a_worker_of_the_clusters_own_pool_and_only_for_its_backends()
    {
        await using var platform = await Platform.StartAsync("fakehealth", workers: 0);
        await platform.PutOkAsync("/v1/tenants/victim", new { hostnames = new[] { "victim.test" } });
        await platform.PutOkAsync("/v1/tenants/victim/clusters/web", new { healthCheck = new { path = "/healthz" } });
        await platform.PutOkAsync("/v1/tenants/victim/clusters/web/backends/a", new { address = "http://127.0.0.1:9" });

        // A worker of another pool says the victim's backend is failing, and makes up another one.
        await platform.PutOkAsync("/v1/pools/elsewhere", new { });
        var foreign = await IssuePoolTokenAsync(platform, "elsewhere");
        await using (var stream = await WorkerStream.OpenAsync(platform, foreign, "liar", "elsewhere"))
        {
            await stream.ReportFailingAsync("victim", "web", "a", "made-up");
            await stream.ProvenHeardAsync(platform);
        }
        Assert.Equal("Unknown", await VerdictAsync(platform, "a"));
        Assert.DoesNotContain("made-up", await BackendsAsync(platform), StringComparison.Ordinal);

        // The same report from a worker of the cluster's own pool is taken: one reporting worker decides.
        var own = await IssuePoolTokenAsync(platform, "default");
        await using (var stream = await WorkerStream.OpenAsync(platform, own, "honest", "default"))
        {
            await stream.ReportFailingAsync("victim", "web", "a", "made-up");
            await Eventually.Async(async () => await VerdictAsync(platform, "a") == "Unhealthy", null, () => "the own pool's report was not taken");
        }
        Assert.DoesNotContain("made-up", await BackendsAsync(platform), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_worker_ID_streaming_under_one_credential_cannot_be_taken_by_another()
    {
        await using var platform = await Platform.StartAsync("workerids", workers: 0);
        var first = await IssuePoolTokenAsync(platform, "default");
        var second = await IssuePoolTokenAsync(platform, "default");
        await using var holder = await WorkerStream.OpenAsync(platform, first, "shared-id", "default");
        await holder.ProvenHeardAsync(platform);

        var taken = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await using var thief = await WorkerStream.OpenAsync(platform, second, "shared-id", "default");
            await thief.ProvenHeardAsync(platform);
        });
        Assert.Equal(StatusCode.AlreadyExists, taken.StatusCode);
    }

    private static async Task<string> IssuePoolTokenAsync(Platform platform, string pool) => (await IssueAsync(platform, pool))["secret"]!.GetValue<string>();

    private static async Task<JsonObject> IssueAsync(Platform platform, string pool)
    {
        using var response = await platform.Admin.PostAsync($"/v1/pools/{pool}/tokens", new StringContent("""{"name":"test worker"}""", Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, text);
        var token = JsonNode.Parse(text)!.AsObject();
        Assert.StartsWith("ppw_", token["secret"]!.GetValue<string>(), StringComparison.Ordinal);
        return token;
    }

    private static async Task<string> BackendsAsync(Platform platform) => await platform.Admin.GetStringAsync("/v1/tenants/victim/clusters/web/backends");

    private static async Task<string> VerdictAsync(Platform platform, string backend)
    {
        using var doc = JsonDocument.Parse(await BackendsAsync(platform));
        return doc.RootElement.GetProperty("items").EnumerateArray().Single(b => b.GetProperty("id").GetString() == backend)
            .GetProperty("health").GetProperty("verdict").GetString()!;
    }

    /// <summary>A configuration stream opened by hand, as a worker (or someone pretending to be one) would.</summary>
    private sealed class WorkerStream(GrpcChannel channel, AsyncDuplexStreamingCall<WorkerMessage, ControlMessage> call, string workerId) : IAsyncDisposable
    {
        private long _heartbeats;

        public static async Task<WorkerStream> OpenAsync(Platform platform, string token, string workerId, string pool)
        {
            var channel = GrpcChannel.ForAddress(platform.GrpcUrl);
            var call = new ConfigStream.ConfigStreamClient(channel).Connect(new Metadata { { "authorization", $"Bearer {token}" } });
            await call.RequestStream.WriteAsync(new WorkerMessage { Hello = new Hello { WorkerId = workerId, Pool = pool, Instance = Guid.NewGuid().ToString("N") } });
            // The first answer is the pool's snapshot, or the refusal.
            await call.ResponseStream.MoveNext(CancellationToken.None);
            return new WorkerStream(channel, call, workerId);
        }

        public Task ReportFailingAsync(string tenant, string cluster, params string[] backends)
        {
            var view = new ClusterHealthView { Tenant = tenant, Cluster = cluster };
            view.Backends.AddRange(backends.Select(b => new BackendHealthView { Backend = b, State = ProbeState.Failing, SinceUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), Reason = "status 500" }));
            return call.RequestStream.WriteAsync(new WorkerMessage { Health = new HealthReport { Full = true, Clusters = { view } } });
        }

        /// <summary>
        /// Sends a heartbeat and waits until the control plane has taken it (the worker's last-seen time
        /// moves): messages on a stream are taken in order, so everything sent before has been too.
        /// </summary>
        public async Task ProvenHeardAsync(Platform platform)
        {
            var before = await LastSeenAsync(platform);
            await call.RequestStream.WriteAsync(new WorkerMessage { Heartbeat = new Heartbeat { AppliedRevision = ++_heartbeats } });
            await Eventually.Async(async () => await LastSeenAsync(platform) != before, null, () => $"worker {workerId}'s heartbeat was not taken");
        }

        private async Task<string?> LastSeenAsync(Platform platform)
        {
            using var doc = JsonDocument.Parse(await platform.Admin.GetStringAsync("/v1/dataplanes"));
            return doc.RootElement.GetProperty("items").EnumerateArray().FirstOrDefault(w => w.GetProperty("id").GetString() == workerId) is { ValueKind: JsonValueKind.Object } entry
                ? entry.GetProperty("lastSeen").ToString()
                : null;
        }

        public async ValueTask DisposeAsync()
        {
            call.Dispose();
            channel.Dispose();
            await Task.CompletedTask;
        }
    }
}
