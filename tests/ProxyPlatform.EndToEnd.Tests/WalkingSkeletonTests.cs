using System.Net;
using System.Text.Json;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests;

public sealed class WalkingSkeletonTests(OneWorkerPlatform fixture) : IClassFixture<OneWorkerPlatform>
{
    private Platform Platform => fixture.Platform;
    private Worker Worker => Platform.Workers[0];

    [Fact]
    public async Task Route_written_through_the_admin_API_is_served_round_robin_over_both_backends()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await Platform.CreateServiceAsync("rr", "rr.test", [a, b], "/api", stripPrefix: true);
        (await Worker.WaitForStatusAsync("rr.test", "/api/hello", 200)).Dispose();

        var seen = new List<string>();
        for (var i = 0; i < 10; i++)
            seen.Add((await Worker.EchoAsync("rr.test", "/api/hello")).Backend);

        Assert.Equal(5, seen.Count(s => s == "a"));
        Assert.Equal(5, seen.Count(s => s == "b"));
        for (var i = 1; i < seen.Count; i++)
            Assert.NotEqual(seen[i - 1], seen[i]);
    }

    [Fact]
    public async Task Prefix_is_stripped_only_when_the_route_asks_for_it()
    {
        await using var backend = await TestBackend.StartAsync("only");
        await Platform.CreateServiceAsync("strip", "strip.test", [backend], "/api", stripPrefix: true);
        await Platform.PutOkAsync("/v1/tenants/strip/routes/keep", new { match = new { pathPrefix = "/keep" }, cluster = "web" });
        (await Worker.WaitForStatusAsync("strip.test", "/keep/x", 200)).Dispose();

        Assert.Equal("/users/7", (await Worker.EchoAsync("strip.test", "/api/users/7?q=1")).Path);
        Assert.Equal("?q=1", (await Worker.EchoAsync("strip.test", "/api/users/7?q=1")).Query);
        Assert.Equal("/", (await Worker.EchoAsync("strip.test", "/api")).Path);
        Assert.Equal("/keep/x", (await Worker.EchoAsync("strip.test", "/keep/x")).Path);
    }

    [Fact]
    public async Task Host_routing_keeps_tenants_apart_and_sends_the_backend_host_by_default()
    {
        await using var one = await TestBackend.StartAsync("one");
        await using var two = await TestBackend.StartAsync("two");
        await Platform.CreateServiceAsync("hosts-one", "one.test", [one]);
        await Platform.CreateServiceAsync("hosts-two", "two.test", [two]);
        (await Worker.WaitForStatusAsync("two.test", "/", 200)).Dispose();

        var echo = await Worker.EchoAsync("one.test", "/x");
        Assert.Equal("one", echo.Backend);
        Assert.Equal($"127.0.0.1:{one.Port}", echo.Host);
        Assert.Equal("two", (await Worker.EchoAsync("two.test", "/x")).Backend);
        using var unknown = await Worker.GetAsync("three.test", "/x");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Deleting_a_route_makes_the_worker_answer_404_with_a_problem_body()
    {
        await using var backend = await TestBackend.StartAsync("gone");
        await Platform.CreateServiceAsync("delete", "delete.test", [backend]);
        (await Worker.WaitForStatusAsync("delete.test", "/", 200)).Dispose();

        using (var deleted = await Platform.Admin.DeleteAsync("/v1/tenants/delete/routes/main"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
            Assert.True(deleted.Headers.Contains("X-Config-Revision"));
        }

        using var response = await Worker.WaitForStatusAsync("delete.test", "/", 404);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(404, problem.RootElement.GetProperty("status").GetInt32());
        using var get = await Platform.Admin.GetAsync("/v1/tenants/delete/routes/main");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    [Fact]
    public async Task Writes_answer_with_the_resource_its_etag_and_the_revision_and_honour_if_match()
    {
        await Platform.PutOkAsync("/v1/tenants/etag", new { hostnames = new[] { "etag.test" } });
        using var created = await Platform.PutAsync("/v1/tenants/etag/clusters/web", new { loadBalancing = "Random" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var revision = created.Headers.GetValues("X-Config-Revision").Single();
        Assert.Equal($"\"{revision}\"", created.Headers.ETag!.Tag);
        using (var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync()))
        {
            Assert.Equal("web", body.RootElement.GetProperty("id").GetString());
            Assert.Equal("Random", body.RootElement.GetProperty("loadBalancing").GetString());
        }

        var stale = new HttpRequestMessage(HttpMethod.Put, "/v1/tenants/etag/clusters/web")
        {
            Content = new StringContent("""{"loadBalancing":"LeastRequests"}""", System.Text.Encoding.UTF8, "application/json"),
        };
        stale.Headers.IfMatch.Add(new System.Net.Http.Headers.EntityTagHeaderValue("\"1\""));
        using var rejected = await Platform.Admin.SendAsync(stale);
        Assert.Equal(HttpStatusCode.PreconditionFailed, rejected.StatusCode);

        var current = new HttpRequestMessage(HttpMethod.Put, "/v1/tenants/etag/clusters/web")
        {
            Content = new StringContent("""{"loadBalancing":"LeastRequests"}""", System.Text.Encoding.UTF8, "application/json"),
        };
        current.Headers.IfMatch.Add(created.Headers.ETag!);
        using var accepted = await Platform.Admin.SendAsync(current);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.True(long.Parse(accepted.Headers.GetValues("X-Config-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture) > long.Parse(revision, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_tenants_route_writes_run_together_but_each_route_sees_the_write_before_it()
    {
        await Platform.PutOkAsync("/v1/tenants/table", new { hostnames = new[] { "table.test" } });
        await Platform.PutOkAsync("/v1/tenants/table/clusters/web", new { });

        // Different routes of one tenant at once: each commits at a revision of its own.
        var revisions = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            Platform.PutOkAsync($"/v1/tenants/table/routes/r{i}", new { match = new { pathPrefix = $"/r{i}" }, cluster = "web" })));
        Assert.Equal(40, revisions.Distinct().Count());

        // One route at once, all from its current version: exactly one write wins, the others see it and fail the precondition.
        var etag = $"\"{revisions[0]}\"";
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 10).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, "/v1/tenants/table/routes/r0")
            {
                Content = new StringContent($$"""{"match":{"pathPrefix":"/r0/v{{i}}"},"cluster":"web"}""", System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.IfMatch.Add(new System.Net.Http.Headers.EntityTagHeaderValue(etag));
            using var response = await Platform.Admin.SendAsync(request);
            return response.StatusCode;
        }));
        Assert.Single(outcomes, s => s == HttpStatusCode.OK);
        Assert.Equal(9, outcomes.Count(s => s == HttpStatusCode.PreconditionFailed));

        // The same body again is no change; a delete then leaves nothing behind.
        using var listed = await Platform.Admin.GetAsync("/v1/tenants/table/routes/r1");
        var current = JsonDocument.Parse(await listed.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("/r1", current.GetProperty("match").GetProperty("pathPrefix").GetString());
        Assert.Equal(revisions[1], await Platform.PutOkAsync("/v1/tenants/table/routes/r1", new { match = new { pathPrefix = "/r1" }, cluster = "web" }));
        using var deleted = await Platform.Admin.DeleteAsync("/v1/tenants/table/routes/r1");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using var gone = await Platform.Admin.GetAsync("/v1/tenants/table/routes/r1");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }
}
