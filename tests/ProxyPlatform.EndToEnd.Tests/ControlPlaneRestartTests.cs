using System.Net;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests;

public sealed class ControlPlaneRestartTests
{
    [Fact]
    public async Task Killing_the_control_plane_loses_nothing_not_even_a_backends_ETag_and_the_worker_resyncs_after_the_restart()
    {
        await using var platform = await Platform.StartAsync("restart");
        var worker = platform.Workers[0];
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        var routeRevision = await platform.CreateServiceAsync("crash", "crash.test", [a, b], "/api", stripPrefix: true);
        (await worker.WaitForStatusAsync("crash.test", "/api/x", 200)).Dispose();
        // Written and acknowledged right before the kill: a route and a tenant change.
        var lastRevision = await platform.PutOkAsync("/v1/tenants/crash/routes/last", new { match = new { pathPrefix = "/last" }, cluster = "web" });
        var tenantRevision = await platform.PutOkAsync("/v1/tenants/crash", new { displayName = "renamed", hostnames = new[] { "crash.test" } });
        // Each backend and the cluster's own settings keep the ETag of their own last change, not the cluster's.
        var tags = new Dictionary<string, string>();
        foreach (var path in new[] { "clusters/web", "clusters/web/backends/a", "clusters/web/backends/b" })
        {
            using var read = await platform.Admin.GetAsync($"/v1/tenants/crash/{path}");
            tags[path] = read.Headers.ETag!.Tag;
        }
        Assert.Equal(3, tags.Values.Distinct().Count());

        await platform.KillControlPlaneAsync();
        // Configuration grains keep no state of their own: their committed rows are all there is.
        await using (var db = Npgsql.NpgsqlDataSource.Create(platform.ConnectionString))
            await db.CreateCommand("DELETE FROM grain_state").ExecuteNonQueryAsync();

        // The worker keeps serving what it has while the control plane is gone.
        for (var i = 0; i < 4; i++)
            Assert.Equal("/x", (await worker.EchoAsync("crash.test", "/api/x")).Path);

        await platform.StartControlPlaneAsync();

        // Everything acknowledged before the crash is still there, at the revision (ETag) it was acknowledged with.
        foreach (var (path, revision) in new[] { ("routes/main", routeRevision), ("routes/last", lastRevision), ("", tenantRevision) })
        {
            using var read = await platform.Admin.GetAsync($"/v1/tenants/crash/{path}".TrimEnd('/'));
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            Assert.Equal($"\"{revision}\"", read.Headers.ETag!.Tag);
        }
        foreach (var (path, tag) in tags)
        {
            using var read = await platform.Admin.GetAsync($"/v1/tenants/crash/{path}");
            Assert.Equal(tag, read.Headers.ETag!.Tag);
        }
        var conditionalBackend = new HttpRequestMessage(HttpMethod.Put, "/v1/tenants/crash/clusters/web/backends/a")
        {
            Content = new StringContent($$"""{"address":"{{a.Address}}","weight":2}""", System.Text.Encoding.UTF8, "application/json"),
        };
        conditionalBackend.Headers.IfMatch.Add(new System.Net.Http.Headers.EntityTagHeaderValue(tags["clusters/web/backends/a"]));
        using (var accepted = await platform.Admin.SendAsync(conditionalBackend))
            Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        using (var tenant = await platform.Admin.GetAsync("/v1/tenants/crash"))
            Assert.Contains("renamed", await tenant.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        // And a conditional write against that ETag is accepted.
        var conditional = new HttpRequestMessage(HttpMethod.Put, "/v1/tenants/crash/routes/last")
        {
            Content = new StringContent("""{"match":{"pathPrefix":"/last2"},"cluster":"web"}""", System.Text.Encoding.UTF8, "application/json"),
        };
        conditional.Headers.IfMatch.Add(new System.Net.Http.Headers.EntityTagHeaderValue($"\"{lastRevision}\""));
        using (var accepted = await platform.Admin.SendAsync(conditional))
            Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        using (var backends = await platform.Admin.GetAsync("/v1/tenants/crash/clusters/web/backends"))
        {
            var text = await backends.Content.ReadAsStringAsync();
            Assert.Contains(a.Address, text, StringComparison.Ordinal);
            Assert.Contains(b.Address, text, StringComparison.Ordinal);
        }

        // And the worker re-syncs: a route added after the restart is served.
        await platform.PutOkAsync("/v1/tenants/crash/routes/later", new { match = new { pathPrefix = "/later" }, cluster = "web" });
        (await worker.WaitForStatusAsync("crash.test", "/later/y", 200, TimeSpan.FromSeconds(30))).Dispose();
        Assert.Equal("/later/y", (await worker.EchoAsync("crash.test", "/later/y")).Path);
    }
}
