using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using ProxyPlatform.EndToEnd.Tests.Access;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.EndToEnd.Tests.Audit;

/// <summary>One control plane whose autoscaler looks every half second, for the audit trail's tests; each test uses its own tenant.</summary>
public sealed class AuditPlatform : IAsyncLifetime
{
    public Platform Platform { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Platform = await Platform.StartAsync("audit", workers: 0, silos: 1,
        "--Scaling:Provider=None", "--Scaling:Autoscale:IntervalSeconds=0.5");

    public async ValueTask DisposeAsync()
    {
        if (Platform is not null)
            await Platform.DisposeAsync();
    }
}

/// <summary>
/// The audit trail against a real control plane and PostgreSQL: each kind of accepted change leaves one
/// record with its author (a named key, the bootstrap key, the autoscaler) and the resource before and
/// after; a refused write leaves none; a tenant's key reads its own tenant's records only; filters,
/// pages, and gRPC's answer equal REST's.
/// </summary>
public sealed class AuditTrailTests(AuditPlatform fixture) : IClassFixture<AuditPlatform>
{
    private Platform Platform => fixture.Platform;

    private static StringContent Json(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    private static async Task<JsonObject> GetJsonAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path} answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    private Task<JsonObject> PageAsync(string query) => GetJsonAsync(Platform.Admin, "/v1/audit" + query);

    private async Task<List<JsonObject>> EntriesAsync(string query) =>
        (await PageAsync(query))["items"]!.AsArray().Select(i => i!.AsObject()).ToList();

    private static async Task SendOkAsync(HttpClient client, HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : Json(body) };
        using var response = await client.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"{method} {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    private static JsonObject Single(List<JsonObject> entries, string resource, string action)
    {
        var found = entries.Where(e => e["resource"]!.GetValue<string>() == resource && e["action"]!.GetValue<string>() == action).ToList();
        Assert.True(found.Count == 1, $"expected one '{action}' of {resource}, found {found.Count} in:\n{string.Join("\n", entries.Select(e => e.ToJsonString()))}");
        return found[0];
    }

    private static void AssertActor(JsonObject entry, string id, string name)
    {
        Assert.Equal(id, entry["actor"]!["id"]!.GetValue<string>());
        Assert.Equal(name, entry["actor"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Each_kind_of_change_is_recorded_once_with_its_key_and_the_resource_before_and_after()
    {
        const string t = "changes";
        var key = await AccessFixture.CreateKeyAsync(Platform.Admin, "operator", null);
        var (keyId, keyName) = (key["id"]!.GetValue<string>(), key["name"]!.GetValue<string>());
        using var op = Platform.Silos[0].Client(key["secret"]!.GetValue<string>());
        var tenant = $"/v1/tenants/{t}";

        await SendOkAsync(op, HttpMethod.Put, tenant, new { hostnames = new[] { "changes.test" } });
        await SendOkAsync(op, HttpMethod.Put, $"{tenant}/clusters/web", new { });
        await SendOkAsync(op, HttpMethod.Put, $"{tenant}/clusters/web/backends/a", new { address = "http://127.0.0.1:9" });
        await SendOkAsync(op, HttpMethod.Put, $"{tenant}/clusters/web/backends/a", new { address = "http://127.0.0.1:10" });
        await SendOkAsync(op, HttpMethod.Put, $"{tenant}/routes/api", new { match = new { pathPrefix = "/api" }, cluster = "web" });
        await SendOkAsync(op, HttpMethod.Put, $"{tenant}/routes/api", new { match = new { pathPrefix = "/v2" }, cluster = "web" });
        var certificate = TestCertificates.Issue(["changes.test"]);
        await SendOkAsync(op, HttpMethod.Put, $"{tenant}/certificates/site", new { certificate = certificate.ChainPem, privateKey = certificate.KeyPem });
        await SendOkAsync(op, HttpMethod.Delete, $"{tenant}/routes/api");
        await SendOkAsync(op, HttpMethod.Delete, $"{tenant}/clusters/web/backends/a");
        // An unchanged PUT is no change: nothing to record.
        await SendOkAsync(op, HttpMethod.Put, $"{tenant}/clusters/web", new { });

        var entries = await EntriesAsync($"?resource={tenant}&limit=1000");
        Assert.All(entries, e => AssertActor(e, keyId, keyName));
        Assert.All(entries, e => Assert.Equal(t, e["tenant"]!.GetValue<string>()));
        Assert.All(entries, e => Assert.False(string.IsNullOrEmpty(e["requestId"]?.GetValue<string>())));
        Assert.All(entries, e => Assert.True(e["revision"]!.GetValue<long>() > 0));
        Assert.Equal(9, entries.Count);

        var created = Single(entries, tenant, "create");
        Assert.Null(created["before"]);
        Assert.Equal("changes.test", created["after"]!["hostnames"]![0]!.GetValue<string>());
        Assert.Null(Single(entries, $"{tenant}/clusters/web", "create")["before"]);
        var backendCreated = Single(entries, $"{tenant}/clusters/web/backends/a", "create");
        Assert.Equal("http://127.0.0.1:9", backendCreated["after"]!["address"]!.GetValue<string>());
        var backendUpdated = Single(entries, $"{tenant}/clusters/web/backends/a", "update");
        Assert.Equal("http://127.0.0.1:9", backendUpdated["before"]!["address"]!.GetValue<string>());
        Assert.Equal("http://127.0.0.1:10", backendUpdated["after"]!["address"]!.GetValue<string>());
        var backendDeleted = Single(entries, $"{tenant}/clusters/web/backends/a", "delete");
        Assert.Equal("http://127.0.0.1:10", backendDeleted["before"]!["address"]!.GetValue<string>());
        Assert.Null(backendDeleted["after"]);
        Assert.Null(Single(entries, $"{tenant}/routes/api", "create")["before"]);
        var routeUpdated = Single(entries, $"{tenant}/routes/api", "update");
        Assert.Equal("/api", routeUpdated["before"]!["match"]!["pathPrefix"]!.GetValue<string>());
        Assert.Equal("/v2", routeUpdated["after"]!["match"]!["pathPrefix"]!.GetValue<string>());
        var routeDeleted = Single(entries, $"{tenant}/routes/api", "delete");
        Assert.Equal("/v2", routeDeleted["before"]!["match"]!["pathPrefix"]!.GetValue<string>());
        Assert.Null(routeDeleted["after"]);
        var certificateCreated = Single(entries, $"{tenant}/certificates/site", "create");
        Assert.NotNull(certificateCreated["after"]);
        // Never a secret: no private key anywhere in the trail.
        var all = string.Join("\n", entries.Select(e => e.ToJsonString()));
        Assert.DoesNotContain("PRIVATE KEY", all, StringComparison.Ordinal);
        Assert.DoesNotContain("privateKey", all, StringComparison.Ordinal);
        // Newest first.
        Assert.Equal(entries.Select(e => e["id"]!.GetValue<long>()).OrderDescending(), entries.Select(e => e["id"]!.GetValue<long>()));

        // Keys and pool tokens, by the named key: created and revoked, never with their secret.
        var made = await AccessFixture.CreateKeyAsync(op, "tenant-viewer", t);
        var madeId = made["id"]!.GetValue<string>();
        await SendOkAsync(op, HttpMethod.Delete, $"/v1/keys/{madeId}");
        using (var issued = await op.PostAsync("/v1/pools/default/tokens", Json(new { name = "audited" })))
            Assert.Equal(HttpStatusCode.Created, issued.StatusCode);
        var keyEntries = await EntriesAsync($"?resource=/v1/keys/{madeId}");
        var keyCreated = Single(keyEntries, $"/v1/keys/{madeId}", "key.create");
        AssertActor(keyCreated, keyId, keyName);
        Assert.Equal(t, keyCreated["tenant"]!.GetValue<string>());
        Assert.Equal("tenant-viewer", keyCreated["after"]!["role"]!.GetValue<string>());
        var keyRevoked = Single(keyEntries, $"/v1/keys/{madeId}", "key.revoke");
        Assert.Null(keyRevoked["before"]!["revokedAt"]);
        Assert.NotNull(keyRevoked["after"]!["revokedAt"]);
        Assert.DoesNotContain(made["secret"]!.GetValue<string>(), string.Join("", keyEntries.Select(e => e.ToJsonString())), StringComparison.Ordinal);
        var tokens = await EntriesAsync("?resource=/v1/pools/default/tokens/");
        Assert.Contains(tokens, e => e["action"]!.GetValue<string>() == "token.create" && e["after"]!["name"]!.GetValue<string>() == "audited");

        // The bootstrap key deletes the tenant: its clusters and certificates went first or go with it, each recorded.
        await SendOkAsync(Platform.Admin, HttpMethod.Delete, $"{tenant}/certificates/site");
        await SendOkAsync(Platform.Admin, HttpMethod.Delete, $"{tenant}/clusters/web");
        await SendOkAsync(Platform.Admin, HttpMethod.Delete, tenant);
        var deleted = Single(await EntriesAsync($"?resource={tenant}&actor=bootstrap"), tenant, "delete");
        AssertActor(deleted, "bootstrap", "bootstrap");
        Assert.Equal("changes.test", deleted["before"]!["hostnames"]![0]!.GetValue<string>());
        Assert.Null(deleted["after"]);
    }

    [Fact]
    public async Task Pool_writes_are_recorded_and_the_autoscalers_decisions_carry_its_name()
    {
        // Below its minimum, the autoscaler raises the pool at its next look, without any traffic.
        await SendOkAsync(Platform.Admin, HttpMethod.Put, "/v1/pools/scaled", new { replicas = 1, autoscale = new { minReplicas = 2, maxReplicas = 4, targetRequestsPerSecondPerReplica = 10 } });
        var scaled = await Eventually.Async(
            () => EntriesAsync("?resource=/v1/pools/scaled&actor=autoscaler"),
            e => e.Count > 0, TimeSpan.FromMinutes(1), e => $"no record by the autoscaler\n{Platform.Silos[0].Process.Output}");
        var decision = scaled[^1];
        AssertActor(decision, "autoscaler", "autoscaler");
        Assert.Equal("scale", decision["action"]!.GetValue<string>());
        Assert.Equal(1, decision["before"]!["replicas"]!.GetValue<int>());
        Assert.Equal(2, decision["after"]!["replicas"]!.GetValue<int>());
        Assert.Null(decision["tenant"]);

        var created = Single(await EntriesAsync("?resource=/v1/pools/scaled&actor=bootstrap"), "/v1/pools/scaled", "create");
        Assert.Null(created["before"]);

        using var patch = new HttpRequestMessage(HttpMethod.Patch, "/v1/pools/scaled") { Content = new StringContent("""{"replicas":3}""", Encoding.UTF8, "application/merge-patch+json") };
        using (var patched = await Platform.Admin.SendAsync(patch))
            Assert.True(patched.IsSuccessStatusCode, await patched.Content.ReadAsStringAsync());
        var update = (await EntriesAsync("?resource=/v1/pools/scaled&actor=bootstrap")).First(e => e["action"]!.GetValue<string>() == "update");
        Assert.Equal(3, update["after"]!["replicas"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_refused_write_records_nothing()
    {
        const string t = "refused";
        await Platform.PutOkAsync($"/v1/tenants/{t}", new { hostnames = new[] { "refused.test" } });
        await Platform.PutOkAsync($"/v1/tenants/{t}/clusters/web", new { });
        var viewer = await AccessFixture.CreateKeyAsync(Platform.Admin, "tenant-viewer", t);
        using var viewerClient = Platform.Silos[0].Client(viewer["secret"]!.GetValue<string>());
        var before = await EntriesAsync($"?tenant={t}&limit=1000");

        foreach (var (client, method, path, body, status) in new (HttpClient, HttpMethod, string, string, HttpStatusCode)[]
        {
            (Platform.Admin, HttpMethod.Put, $"/v1/tenants/{t}/routes/bad", """{"match":{"pathPrefix":"no-slash"},"cluster":"web"}""", HttpStatusCode.BadRequest),
            (Platform.Admin, HttpMethod.Put, $"/v1/tenants/{t}/routes/orphan", """{"match":{"pathPrefix":"/x"},"cluster":"missing"}""", HttpStatusCode.BadRequest),
            (viewerClient, HttpMethod.Put, $"/v1/tenants/{t}/clusters/web2", "{}", HttpStatusCode.Forbidden),
            (Platform.Admin, HttpMethod.Delete, $"/v1/tenants/{t}/routes/none", "", HttpStatusCode.NotFound),
        })
        {
            using var request = new HttpRequestMessage(method, path) { Content = body.Length == 0 ? null : new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await client.SendAsync(request);
            Assert.True(!response.IsSuccessStatusCode, $"{method} {path} was accepted: {(int)response.StatusCode}");
        }
        using (var stale = new HttpRequestMessage(HttpMethod.Put, $"/v1/tenants/{t}/clusters/web") { Content = new StringContent("""{"loadBalancing":"Random"}""", Encoding.UTF8, "application/json") })
        {
            stale.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
            using var response = await Platform.Admin.SendAsync(stale);
            Assert.Equal(HttpStatusCode.PreconditionFailed, response.StatusCode);
        }
        using (var operatorKey = await viewerClient.PostAsync("/v1/keys", Json(new { name = "x", role = "operator" })))
            Assert.Equal(HttpStatusCode.Forbidden, operatorKey.StatusCode);

        var after = await EntriesAsync($"?tenant={t}&limit=1000");
        Assert.Equal(before.Select(e => e["id"]!.GetValue<long>()), after.Select(e => e["id"]!.GetValue<long>()));
    }

    [Fact]
    public async Task A_tenants_key_reads_its_own_tenants_records_only()
    {
        foreach (var t in new[] { "own", "other" })
        {
            await Platform.PutOkAsync($"/v1/tenants/{t}", new { hostnames = new[] { $"{t}.test" } });
            await Platform.PutOkAsync($"/v1/tenants/{t}/clusters/web", new { });
        }
        var viewer = await AccessFixture.CreateKeyAsync(Platform.Admin, "tenant-viewer", "own");
        using var client = Platform.Silos[0].Client(viewer["secret"]!.GetValue<string>());

        var own = (await GetJsonAsync(client, "/v1/tenants/own/audit?limit=1000"))["items"]!.AsArray();
        Assert.NotEmpty(own);
        Assert.All(own, e => Assert.Equal("own", e!["tenant"]!.GetValue<string>()));
        Assert.Contains(own, e => e!["resource"]!.GetValue<string>() == "/v1/tenants/own/clusters/web");

        using (var whole = await client.GetAsync("/v1/audit"))
            Assert.Equal(HttpStatusCode.Forbidden, whole.StatusCode);
        using (var other = await client.GetAsync("/v1/tenants/other/audit"))
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);

        using var channel = AdminGrpc.Channel(Platform, viewer["secret"]!.GetValue<string>());
        var grpc = new AdminPb.Admin.AdminClient(channel);
        var denied = await Assert.ThrowsAsync<RpcException>(async () => await grpc.ListAuditAsync(new()));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        var hidden = await Assert.ThrowsAsync<RpcException>(async () => await grpc.ListAuditAsync(new() { Tenant = "other", TenantScoped = true }));
        Assert.Equal(StatusCode.NotFound, hidden.StatusCode);
        // Asked as a filter of the whole trail, "other" is not a way around it either.
        var filtered = await Assert.ThrowsAsync<RpcException>(async () => await grpc.ListAuditAsync(new() { Tenant = "other" }));
        Assert.Equal(StatusCode.PermissionDenied, filtered.StatusCode);
    }

    [Fact]
    public async Task Filters_and_pages_walk_the_trail_newest_first_and_gRPC_answers_the_same()
    {
        const string t = "paged";
        var start = DateTimeOffset.UtcNow.AddSeconds(-1);
        await Platform.PutOkAsync($"/v1/tenants/{t}", new { hostnames = new[] { "paged.test" } });
        await Platform.PutOkAsync($"/v1/tenants/{t}/clusters/web", new { });
        for (var i = 0; i < 7; i++)
            await Platform.PutOkAsync($"/v1/tenants/{t}/routes/r{i}", new { match = new { pathPrefix = $"/r{i}" }, cluster = "web" });

        var everything = await EntriesAsync($"?tenant={t}&limit=1000");
        Assert.Equal(9, everything.Count);
        Assert.Equal(7, (await EntriesAsync($"?resource=/v1/tenants/{t}/routes/")).Count);
        Assert.Equal(9, (await EntriesAsync($"?tenant={t}&since={Uri.EscapeDataString(start.ToString("O"))}")).Count);
        Assert.Empty(await EntriesAsync($"?tenant={t}&since={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(1).ToString("O"))}"));
        Assert.Empty(await EntriesAsync($"?tenant={t}&actor=nobody"));

        // Pages of 2: every record once, newest first, then no next.
        var walked = new List<long>();
        string? next = null;
        do
        {
            var page = await PageAsync($"?tenant={t}&limit=2" + (next is null ? "" : $"&after={next}"));
            walked.AddRange(page["items"]!.AsArray().Select(e => e!["id"]!.GetValue<long>()));
            next = page["next"]?.GetValue<string>();
        }
        while (next is not null && walked.Count < 100);
        Assert.Equal(everything.Select(e => e["id"]!.GetValue<long>()), walked);

        foreach (var (query, field) in new[] { ("?limit=0", "limit"), ("?limit=1001", "limit"), ("?after=x", "after"), ("?since=yesterday", "since") })
        {
            using var response = await Platform.Admin.GetAsync("/v1/audit" + query);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains(field, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var channel = AdminGrpc.Channel(Platform, Platform.OperatorKey);
        var grpc = new AdminPb.Admin.AdminClient(channel);
        var reply = await grpc.ListAuditAsync(new() { Tenant = t, Limit = 1000 });
        Assert.Equal(everything.Count, reply.Items.Count);
        for (var i = 0; i < everything.Count; i++)
        {
            var (rest, pb) = (everything[i], reply.Items[i]);
            Assert.Equal(rest["id"]!.GetValue<long>(), pb.Id);
            Assert.Equal(rest["action"]!.GetValue<string>(), pb.Action);
            Assert.Equal(rest["resource"]!.GetValue<string>(), pb.Resource);
            Assert.Equal(rest["actor"]!["id"]!.GetValue<string>(), pb.ActorId);
            Assert.Equal(rest["revision"]!.GetValue<long>(), pb.Revision);
            Assert.Equal(rest["requestId"]!.GetValue<string>(), pb.RequestId);
            Assert.True(JsonNode.DeepEquals(rest["after"], pb.AfterJson.Length == 0 ? null : JsonNode.Parse(pb.AfterJson)));
        }
        var scoped = await grpc.ListAuditAsync(new() { Tenant = t, TenantScoped = true, Limit = 2 });
        Assert.Equal(everything.Take(2).Select(e => e["id"]!.GetValue<long>()), scoped.Items.Select(e => e.Id));
        Assert.Equal(scoped.Items[1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture), scoped.Next);
    }
}
