using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Grpc.Core;
using Npgsql;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.EndToEnd.Tests.Documents;

public sealed class TwoWorkerPlatform() : PlatformFixture(2);

/// <summary>
/// A tenant's configuration as one document (issue 16, items 2 and 3): read now or as of a revision, applied as
/// one revision that the workers receive as one update, dry runs that change nothing, If-Match, refusals that
/// name the field and change nothing, rollback served by the workers, and gRPC answering as REST does.
/// </summary>
public sealed class ConfigDocumentTests(TwoWorkerPlatform fixture) : IClassFixture<TwoWorkerPlatform>
{
    private Platform Platform => fixture.Platform;

    [Fact]
    public async Task Rollback_across_a_route_deletion_and_a_backend_change_is_served_by_the_workers()
    {
        const string tenant = "rollback";
        const string host = "rollback.test";
        await using var first = await TestBackend.StartAsync("first");
        await using var second = await TestBackend.StartAsync("second");
        await Platform.CreateServiceAsync(tenant, host, [first]);
        var good = await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/extra", new { match = new { pathPrefix = "/extra" }, cluster = "web" });
        var (goodDocument, goodETag) = await GetDocumentAsync(tenant);
        await WaitForAllAsync(good);
        Assert.Equal("first", (await Platform.Workers[0].EchoAsync(host, "/extra/a")).Backend);

        // The route goes, and the cluster's backend is replaced.
        await Platform.Silos[0].DeleteOkAsync($"/v1/tenants/{tenant}/routes/extra");
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/second", new { address = second.Address });
        var bad = await Platform.Silos[0].DeleteOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/first");
        await WaitForAllAsync(bad);
        Assert.Equal("second", (await Platform.Workers[0].EchoAsync(host, "/extra/a")).Backend);

        // As of the good revision, the document is what it was then.
        var (asOf, asOfETag) = await GetDocumentAsync(tenant, good);
        Assert.Equal(goodETag, asOfETag);
        Assert.Equal(good, asOf["revision"]!.GetValue<long>());
        Assert.True(JsonNode.DeepEquals(goodDocument["routes"], asOf["routes"]));

        var answer = await PostJsonAsync($"/v1/tenants/{tenant}/rollback", new JsonObject { ["revision"] = good });
        var revision = answer["revision"]!.GetValue<long>();
        Assert.False(answer["unchanged"]!.GetValue<bool>());
        Assert.Contains(answer["diff"]!["added"]!.AsArray(), a => a!["kind"]!.GetValue<string>() == "route" && a["id"]!.GetValue<string>() == "extra");
        Assert.Contains(answer["diff"]!["added"]!.AsArray(), a => a!["kind"]!.GetValue<string>() == "backend" && a["id"]!.GetValue<string>() == "web/first");
        Assert.Contains(answer["diff"]!["removed"]!.AsArray(), a => a!["kind"]!.GetValue<string>() == "backend" && a["id"]!.GetValue<string>() == "web/second");

        await WaitForAllAsync(revision);
        foreach (var worker in Platform.Workers)
        {
            for (var i = 0; i < 4; i++)
                Assert.Equal("first", (await worker.EchoAsync(host, "/extra/a")).Backend);
        }
        // The single-resource API sees the restored resources (their grains read them again).
        using var route = await Platform.Admin.GetAsync($"/v1/tenants/{tenant}/routes/extra");
        Assert.Equal(HttpStatusCode.OK, route.StatusCode);
        using var backend = await Platform.Admin.GetAsync($"/v1/tenants/{tenant}/clusters/web/backends/first");
        Assert.Equal(HttpStatusCode.OK, backend.StatusCode);
        var (_, nowETag) = await GetDocumentAsync(tenant);
        Assert.Equal(goodETag, nowETag);

        // The rollback is one audit entry at its revision, its before and after the parts of the document it changed.
        Assert.Equal(1, await ScalarAsync("SELECT count(*) FROM audit_log WHERE tenant = $1 AND revision = $2", tenant, revision));
        Assert.Equal(1, await ScalarAsync(
            "SELECT count(*) FROM audit_log WHERE tenant = $1 AND revision = $2 AND action = 'rollback' AND resource = '/v1/tenants/rollback/config' "
            + "AND after->'routes' ? 'extra' AND NOT coalesce(before->'routes', '{}'::jsonb) ? 'extra'", tenant, revision));
    }

    [Fact]
    public async Task Applying_a_document_of_1000_routes_is_one_revision_and_one_update_on_the_workers()
    {
        const string tenant = "thousand";
        const string host = "thousand.test";
        await using var origin = await TestBackend.StartAsync("origin");
        var created = await Platform.PutTenantAsync(tenant, host);
        await WaitForAllAsync(created);
        var before = new List<ConfigStats>();
        foreach (var worker in Platform.Workers)
            before.Add(await worker.StatsAsync());

        var routes = new JsonObject();
        for (var i = 0; i < 1000; i++)
            routes[$"r{i:D4}"] = new JsonObject { ["match"] = new JsonObject { ["pathPrefix"] = $"/svc-{i:D4}" }, ["cluster"] = "web" };
        var document = new JsonObject
        {
            ["clusters"] = new JsonObject { ["web"] = new JsonObject { ["backends"] = new JsonObject { ["origin"] = new JsonObject { ["address"] = origin.Address } } } },
            ["routes"] = routes,
        };
        var answer = await PutDocumentAsync(tenant, document);
        var revision = answer["revision"]!.GetValue<long>();
        Assert.Equal(1002, answer["diff"]!["added"]!.AsArray().Count);

        Assert.Equal(1, await ScalarAsync("SELECT count(*) FROM config_commits WHERE tenant = $1 AND revision > $2", tenant, created));
        for (var w = 0; w < Platform.Workers.Count; w++)
        {
            var stats = await Platform.Workers[w].WaitForRevisionAsync(revision);
            Assert.Equal(before[w].UpdatesReceived + 1, stats.UpdatesReceived);
            Assert.Equal(revision, stats.LastUpdate!.Revision);
            Assert.Equal(1001, stats.LastUpdate.Upserts);
        }
        Assert.Equal("origin", (await Platform.Workers[1].EchoAsync(host, "/svc-0999/x")).Backend);
        Assert.Equal(1000, (await GetDocumentAsync(tenant)).Document["routes"]!.AsObject().Count);
        // One audit entry for the whole apply.
        Assert.Equal(1, await ScalarAsync("SELECT count(*) FROM audit_log WHERE tenant = $1 AND revision > $2", tenant, created));
        Assert.Equal(1, await ScalarAsync("SELECT count(*) FROM audit_log WHERE tenant = $1 AND revision = $2 AND action = 'config.apply'", tenant, revision));
    }

    [Fact]
    public async Task A_dry_run_answers_the_diff_and_changes_nothing_in_the_database()
    {
        const string tenant = "dryrun";
        await using var origin = await TestBackend.StartAsync("dry");
        await Platform.CreateServiceAsync(tenant, "dryrun.test", [origin]);
        var older = await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/api", new { match = new { pathPrefix = "/api" }, cluster = "web" });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/api", new { match = new { pathPrefix = "/api/v2" }, cluster = "web" });
        var (document, _) = await GetDocumentAsync(tenant);
        document["routes"]!["api"]!["match"]!["pathPrefix"] = "/api/v3";
        document["routes"]!.AsObject().Remove("main");
        document["routes"]!["new"] = new JsonObject { ["match"] = new JsonObject { ["pathPrefix"] = "/new" }, ["cluster"] = "web" };

        var dump = await DumpAsync();
        var answer = await PutDocumentAsync(tenant, document, dryRun: true);
        Assert.True(answer["dryRun"]!.GetValue<bool>());
        Assert.Null(answer["revision"]);
        var changed = Assert.Single(answer["diff"]!["changed"]!.AsArray());
        Assert.Equal("api", changed!["id"]!.GetValue<string>());
        var field = Assert.Single(changed["fields"]!.AsArray());
        Assert.Equal("match.pathPrefix", field!["path"]!.GetValue<string>());
        Assert.Equal("/api/v2", field["before"]!.GetValue<string>());
        Assert.Equal("/api/v3", field["after"]!.GetValue<string>());
        Assert.Equal("new", Assert.Single(answer["diff"]!["added"]!.AsArray())!["id"]!.GetValue<string>());
        Assert.Equal("main", Assert.Single(answer["diff"]!["removed"]!.AsArray())!["id"]!.GetValue<string>());

        var rollback = await PostJsonAsync($"/v1/tenants/{tenant}/rollback?dryRun=true", new JsonObject { ["revision"] = older });
        Assert.Equal("/api", Assert.Single(Assert.Single(rollback["diff"]!["changed"]!.AsArray())!["fields"]!.AsArray())!["after"]!.GetValue<string>());
        Assert.Equal(dump, await DumpAsync());
    }

    [Fact]
    public async Task GET_then_PUT_of_the_document_is_a_no_op_that_creates_no_revision()
    {
        const string tenant = "roundtrip";
        await using var origin = await TestBackend.StartAsync("round");
        await Platform.CreateServiceAsync(tenant, "roundtrip.test", [origin]);
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/tuned", new
        {
            loadBalancing = "LeastRequests",
            healthCheck = new { path = "/ready", intervalSeconds = 2.5 },
            retry = new { maxAttempts = 2, retryOn = new[] { "connect-failure", "503" } },
            timeouts = new { connectSeconds = 3 },
        });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/tuned/backends/b", new { address = "http://127.0.0.1:9", weight = 3, enabled = false });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/tuned", new
        {
            match = new { hosts = new[] { "ROUNDTRIP.test." }, pathPrefix = "/t", methods = new[] { "GET" }, headers = new Dictionary<string, string> { ["x-b"] = "2", ["x-a"] = "1" } },
            cluster = "tuned", stripPrefix = true, priority = 5, timeoutSeconds = 9, rateLimit = new { requestsPerSecond = 10, burst = 20 },
        });
        var (document, etag) = await GetDocumentAsync(tenant);
        var commits = await ScalarAsync("SELECT count(*) FROM config_commits WHERE tenant = $1", tenant);

        using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/tenants/{tenant}/config") { Content = Json(document) };
        request.Headers.TryAddWithoutValidation("If-Match", etag);
        using var response = await Platform.Admin.SendAsync(request);
        var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(response.StatusCode == HttpStatusCode.OK, answer.ToJsonString());
        Assert.True(answer["unchanged"]!.GetValue<bool>());
        Assert.Null(answer["revision"]);
        Assert.Equal(commits, await ScalarAsync("SELECT count(*) FROM config_commits WHERE tenant = $1", tenant));
        Assert.Equal(etag, (await GetDocumentAsync(tenant)).ETag);
    }

    [Fact]
    public async Task A_PUT_whose_If_Match_does_not_hold_is_412_and_changes_nothing()
    {
        const string tenant = "ifmatch";
        await using var origin = await TestBackend.StartAsync("ifmatch");
        await Platform.CreateServiceAsync(tenant, "ifmatch.test", [origin]);
        var (document, etag) = await GetDocumentAsync(tenant);
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/other", new { match = new { pathPrefix = "/other" }, cluster = "web" });
        var (_, current) = await GetDocumentAsync(tenant);
        Assert.NotEqual(etag, current);

        foreach (var stale in new[] { etag, "\"nope\"" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/tenants/{tenant}/config") { Content = Json(document) };
            request.Headers.TryAddWithoutValidation("If-Match", stale);
            using var response = await Platform.Admin.SendAsync(request);
            Assert.Equal(HttpStatusCode.PreconditionFailed, response.StatusCode);
        }
        Assert.Equal(current, (await GetDocumentAsync(tenant)).ETag);
    }

    [Theory]
    [InlineData("""{"clusters":{"web":{}},"routes":{"r1":{"match":{"pathPrefix":"no-slash"},"cluster":"web"}}}""", "routes.r1.match.pathPrefix")]
    [InlineData("""{"clusters":{"web":{}},"routes":{"r1":{"match":{"pathPrefx":"/a"},"cluster":"web"}}}""", "routes.r1.match.pathPrefx")]
    [InlineData("""{"clusters":{"web":{"backends":{"b1":{"address":"ftp://x"}}}},"routes":{}}""", "clusters.web.backends.b1.address")]
    [InlineData("""{"clusters":{"web":{"loadBalancing":"Sideways"}}}""", "clusters.web.loadBalancing")]
    [InlineData("""{"clusters":{},"routes":{"r1":{"match":{"pathPrefix":"/a"},"cluster":"gone"}}}""", "routes.r1.cluster")]
    [InlineData("""{"clusters":{"Bad_Id":{}}}""", "clusters.Bad_Id")]
    [InlineData("""{"clusters":{},"extra":1}""", "extra")]
    public async Task An_invalid_document_is_refused_naming_the_field_and_changes_nothing(string body, string field)
    {
        const string tenant = "invalid";
        await using var origin = await TestBackend.StartAsync("invalid");
        await Platform.CreateServiceAsync(tenant, "invalid.test", [origin]);
        var (_, etag) = await GetDocumentAsync(tenant);
        var dump = await DumpAsync();

        using var response = await Platform.PutRawAsync($"/v1/tenants/{tenant}/config", body);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, problem.ToJsonString());
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(field, problem["field"]!.GetValue<string>());
        Assert.Equal(dump, await DumpAsync());
        Assert.Equal(etag, (await GetDocumentAsync(tenant)).ETag);
    }

    [Fact]
    public async Task A_document_that_routes_another_tenants_host_is_refused_and_changes_nothing()
    {
        await Platform.PutTenantAsync("owner", "owned.test");
        await using var origin = await TestBackend.StartAsync("intruder");
        await Platform.CreateServiceAsync("intruder", "intruder.test", [origin]);
        var (document, etag) = await GetDocumentAsync("intruder");
        document["routes"]!["steal"] = new JsonObject
        {
            ["match"] = new JsonObject { ["hosts"] = new JsonArray("owned.test"), ["pathPrefix"] = "/" },
            ["cluster"] = "web",
        };
        foreach (var dryRun in new[] { true, false })
        {
            using var response = await Platform.Admin.PutAsync($"/v1/tenants/intruder/config{(dryRun ? "?dryRun=true" : "")}", Json(document));
            var problem = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, problem);
            Assert.Contains("owned.test", problem, StringComparison.Ordinal);
        }
        Assert.Equal(etag, (await GetDocumentAsync("intruder")).ETag);
    }

    [Fact]
    public async Task A_revision_outside_the_history_is_a_problem_naming_the_revision()
    {
        const string tenant = "outside";
        await using var origin = await TestBackend.StartAsync("outside");
        await Platform.CreateServiceAsync(tenant, "outside.test", [origin]);
        foreach (var path in new[] { $"/v1/tenants/{tenant}/config?revision=999999999999", $"/v1/tenants/{tenant}/config?revision=x" })
        {
            using var response = await Platform.Admin.GetAsync(path);
            var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.True(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, problem.ToJsonString());
            Assert.Equal("revision", problem["field"]!.GetValue<string>());
        }
        using var rollback = await Platform.Admin.PostAsync($"/v1/tenants/{tenant}/rollback", Json(new JsonObject { ["revision"] = 999999999999 }));
        Assert.Equal(HttpStatusCode.NotFound, rollback.StatusCode);
    }

    [Fact]
    public async Task gRPC_answers_as_REST_does()
    {
        const string tenant = "grpcdoc";
        await using var origin = await TestBackend.StartAsync("grpcdoc");
        var revision = await Platform.CreateServiceAsync(tenant, "grpcdoc.test", [origin]);
        using var channel = AdminGrpc.Channel(Platform);
        var client = new AdminPb.Admin.AdminClient(channel);

        var (document, etag) = await GetDocumentAsync(tenant);
        var reply = await client.GetConfigAsync(new() { Tenant = tenant });
        Assert.Equal(etag, reply.Etag);
        Assert.True(JsonNode.DeepEquals(document, JsonNode.Parse(reply.Document)));
        var asOf = await client.GetConfigAsync(new() { Tenant = tenant, Revision = revision });
        Assert.Equal(revision, asOf.Revision);

        document["routes"]!["main"]!["priority"] = 7;
        var rest = await PutDocumentAsync(tenant, document, dryRun: true);
        var grpc = await client.ApplyConfigAsync(new() { Tenant = tenant, Document = document.ToJsonString(), DryRun = true });
        Assert.True(JsonNode.DeepEquals(rest, JsonNode.Parse(grpc.Answer)), $"{rest.ToJsonString()}\n{grpc.Answer}");

        var stale = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.ApplyConfigAsync(new() { Tenant = tenant, Document = document.ToJsonString(), IfMatch = "\"nope\"" }));
        Assert.Equal(StatusCode.Aborted, stale.StatusCode);
        var invalid = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.ApplyConfigAsync(new() { Tenant = tenant, Document = """{"routes":{"r":{"cluster":"nowhere"}}}""" }));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Equal("routes.r.cluster", invalid.Trailers.GetValue("field"));

        var applied = await client.ApplyConfigAsync(new() { Tenant = tenant, Document = document.ToJsonString(), IfMatch = etag });
        Assert.True(applied.HasRevision);
        var back = await client.RollbackAsync(new() { Tenant = tenant, Revision = revision });
        Assert.True(back.HasRevision);
        Assert.Equal(etag, (await GetDocumentAsync(tenant)).ETag);
    }

    private async Task WaitForAllAsync(long revision)
    {
        foreach (var worker in Platform.Workers)
            await worker.WaitForRevisionAsync(revision);
    }

    private async Task<(JsonObject Document, string ETag)> GetDocumentAsync(string tenant, long? revision = null)
    {
        using var response = await Platform.Admin.GetAsync($"/v1/tenants/{tenant}/config{(revision is { } r ? $"?revision={r}" : "")}");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return (JsonNode.Parse(text)!.AsObject(), response.Headers.ETag!.ToString());
    }

    private async Task<JsonObject> PutDocumentAsync(string tenant, JsonObject document, bool dryRun = false)
    {
        using var response = await Platform.Admin.PutAsync($"/v1/tenants/{tenant}/config{(dryRun ? "?dryRun=true" : "")}", Json(document));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!.AsObject();
    }

    private async Task<JsonObject> PostJsonAsync(string path, JsonObject body)
    {
        using var response = await Platform.Admin.PostAsync(path, Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!.AsObject();
    }

    private static StringContent Json(JsonNode body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private async Task<long> ScalarAsync(string sql, string tenant, long? revision = null)
    {
        await using var connection = new NpgsqlConnection(Platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue(tenant);
        if (revision is { } r)
            command.Parameters.AddWithValue(r);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The configuration, key, pool and audit tables (DESIGN.md: "Comparing a database before and after"), without usage timestamps.</summary>
    private async Task<string> DumpAsync()
    {
        await using var connection = new NpgsqlConnection(Platform.ConnectionString);
        await connection.OpenAsync();
        var dump = new StringBuilder();
        foreach (var table in new[] { "config_resources", "config_commits", "config_history", "config_history_horizon", "config_pruned", "credentials", "audit_log" })
        {
            await using var command = new NpgsqlCommand(
                $"SELECT coalesce(string_agg(row, E'\\n' ORDER BY row), '') FROM (SELECT (to_jsonb(t) - 'last_used_at')::text AS row FROM {table} t) rows", connection);
            dump.Append("-- ").AppendLine(table).AppendLine((string)(await command.ExecuteScalarAsync())!);
        }
        return dump.ToString();
    }
}
