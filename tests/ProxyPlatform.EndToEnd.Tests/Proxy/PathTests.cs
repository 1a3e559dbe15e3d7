using System.Net;
using System.Text.Json;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Proxy;

/// <summary>
/// A path is normalised before it is matched, and the backend gets the normalised path: no spelling
/// of <c>/admin</c> escapes the <c>/admin</c> route's rules by landing on <c>/</c>.
/// </summary>
[Collection(ProxyCollection.Name)]
public sealed class PathTests(ProxyFixture fixture)
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Paths_are_normalised_before_matching_and_the_backend_gets_the_normalised_path()
    {
        await using var admin = await TestBackend.StartAsync("admin");
        await using var site = await TestBackend.StartAsync("site");
        await fixture.TenantAsync("paths", "paths.test");
        await fixture.ClusterAsync("paths", "admin", new { }, ("a", admin.Address, 1));
        await fixture.ClusterAsync("paths", "site", new { }, ("s", site.Address, 1));
        await fixture.PutAsync("/v1/tenants/paths/routes/admin", new { match = new { pathPrefix = "/admin" }, cluster = "admin" });
        await fixture.PutAsync("/v1/tenants/paths/routes/static", new { match = new { pathPrefix = "/static" }, cluster = "site", stripPrefix = true });
        await fixture.ServedAsync(await fixture.PutAsync("/v1/tenants/paths/routes/site", new { match = new { pathPrefix = "/" }, cluster = "site" }));

        foreach (var (raw, backend, path) in new[]
        {
            ("//admin", "admin", "/admin"),
            ("/./admin/x", "admin", "/admin/x"),
            ("/a/../admin", "admin", "/admin"),
            ("/static/../admin", "admin", "/admin"),
            ("/a/%2E%2E/admin//users", "admin", "/admin/users"),
            ("/static//css/../app.js", "site", "/app.js"),
        })
        {
            var (status, body) = await SendRawAsync(fixture.Edge, raw);
            Assert.True(status == 200, $"{raw}: {status} {body}");
            var echo = JsonSerializer.Deserialize<BackendEcho>(body, JsonSerializerOptions.Web)!;
            Assert.Equal((backend, path), (echo.Backend, echo.Path));
        }

        foreach (var raw in new[] { "/admin%2Fx", "/x%2fadmin", "/static/..%2Fadmin", "/admin%5Cx", "/admin%5cx" })
        {
            var (status, body) = await SendRawAsync(fixture.Edge, raw);
            Assert.True(status == 400, $"{raw}: {status} {body}");
            Assert.Contains("bad-path", body, StringComparison.Ordinal);
        }
        Assert.Equal(5, admin.Requests);
    }

    /// <summary>Sends the request target exactly as given: an HTTP client would tidy the path itself.</summary>
    private static async Task<(int Status, string Body)> SendRawAsync(Worker worker, string target)
    {
        using var client = new HttpClient();
        var uri = new Uri(worker.ProxyUrl + target, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.Host = "paths.test";
        using var response = await client.SendAsync(request, Cancel);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(Cancel));
    }
}
