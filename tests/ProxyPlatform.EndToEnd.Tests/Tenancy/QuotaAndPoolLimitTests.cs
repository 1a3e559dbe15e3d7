using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.EndToEnd.Tests.Tenancy;

/// <summary>
/// Quotas refuse a write past them with 403 <c>quota-exceeded</c> and leave nothing behind; a pool's
/// limits refuse a resource its workers must not be sent; neither can shrink below what is stored.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class QuotaAndPoolLimitTests(TenancyFixture fixture)
{
    private Platform Platform => fixture.Platform;

    [Fact]
    public async Task A_write_past_a_quota_is_refused_naming_quota_limit_and_use_and_leaves_nothing_behind()
    {
        await Platform.PutOkAsync("/v1/tenants/quota", new { hostnames = new[] { "quota.test" }, quotas = new { maxRoutes = 2, maxClusters = 1, maxBackends = 2 } });
        await Platform.PutOkAsync("/v1/tenants/quota/clusters/web", new { });
        await Platform.PutOkAsync("/v1/tenants/quota/clusters/web/backends/a", new { address = "http://127.0.0.1:9" });
        await Platform.PutOkAsync("/v1/tenants/quota/clusters/web/backends/b", new { address = "http://127.0.0.1:9" });
        await AssertQuotaExceeded("/v1/tenants/quota/clusters/web/backends/c", new { address = "http://127.0.0.1:9" }, "maxBackends", 2, 2);
        await AssertQuotaExceeded("/v1/tenants/quota/clusters/api", new { }, "maxClusters", 1, 1);

        // Two routes written at once on two silos: both fit. A third does not, on either silo.
        await Task.WhenAll(
            Platform.Silos[0].PutOkAsync("/v1/tenants/quota/routes/r1", new { match = new { pathPrefix = "/1" }, cluster = "web" }),
            Platform.Silos[1].PutOkAsync("/v1/tenants/quota/routes/r2", new { match = new { pathPrefix = "/2" }, cluster = "web" }));
        await AssertQuotaExceeded("/v1/tenants/quota/routes/r3", new { match = new { pathPrefix = "/3" }, cluster = "web" }, "maxRoutes", 2, 2, silo: 1);
        // Changing a route that exists adds nothing, so it passes at the quota.
        await Platform.PutOkAsync("/v1/tenants/quota/routes/r1", new { match = new { pathPrefix = "/one" }, cluster = "web" });

        // The same refusal over gRPC: ResourceExhausted with the quota in the trailers.
        using (var channel = AdminGrpc.Channel(Platform))
        {
            var refused = await Assert.ThrowsAsync<RpcException>(async () => await new AdminPb.Admin.AdminClient(channel).PutRouteAsync(new()
            {
                Tenant = "quota", Route = "r4", Spec = new() { Match = new() { PathPrefix = "/4" }, Cluster = "web" },
            }));
            Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
            Assert.Equal("maxRoutes", refused.Trailers.GetValue("quota"));
        }

        // GET shows use beside each quota.
        var tenant = JsonNode.Parse(await Platform.Admin.GetStringAsync("/v1/tenants/quota"))!;
        Assert.Equal(2, tenant["usage"]!["maxRoutes"]!["use"]!.GetValue<long>());
        Assert.Equal(2, tenant["usage"]!["maxRoutes"]!["limit"]!.GetValue<long>());
        Assert.Equal(2, tenant["usage"]!["maxBackends"]!["use"]!.GetValue<long>());
        Assert.Equal(1, tenant["usage"]!["maxHostnames"]!["use"]!.GetValue<long>());
        Assert.Equal(10_000, JsonNode.Parse(await Platform.Admin.GetStringAsync("/v1/tenants/valid-defaults-" + await DefaultsTenantAsync()))!["usage"]!["maxRoutes"]!["limit"]!.GetValue<long>());

        // A quota cannot shrink below what is stored: 409 naming it; raising it lets the write through.
        using (var shrink = await Platform.PutAsync("/v1/tenants/quota", new { hostnames = new[] { "quota.test" }, quotas = new { maxRoutes = 1, maxClusters = 1, maxBackends = 2 } }))
        {
            Assert.Equal(HttpStatusCode.Conflict, shrink.StatusCode);
            Assert.Contains("maxRoutes", await shrink.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        await Platform.PutOkAsync("/v1/tenants/quota", new { hostnames = new[] { "quota.test" }, quotas = new { maxRoutes = 3, maxClusters = 1, maxBackends = 2 } });
        await Platform.PutOkAsync("/v1/tenants/quota/routes/r3", new { match = new { pathPrefix = "/3" }, cluster = "web" });
    }

    [Fact]
    public async Task A_routes_body_limit_above_its_tenants_quota_is_refused()
    {
        await Platform.PutOkAsync("/v1/tenants/bodyq", new { hostnames = new[] { "bodyq.test" }, quotas = new { maxRequestBodyBytes = 1024 } });
        await Platform.PutOkAsync("/v1/tenants/bodyq/clusters/web", new { });
        await AssertQuotaExceeded("/v1/tenants/bodyq/routes/big", new { cluster = "web", maxRequestBodyBytes = 4096 }, "maxRequestBodyBytes", 1024, 4096);
        await Platform.PutOkAsync("/v1/tenants/bodyq/routes/small", new { cluster = "web", maxRequestBodyBytes = 1024 });
    }

    [Fact]
    public async Task A_resource_beyond_its_pools_limits_is_refused_at_write_and_limits_cannot_shrink_below_what_exists()
    {
        await Platform.PutOkAsync("/v1/pools/small", new { limits = new { maxRequestBodyBytes = 1000, allowedBackendNetworks = new[] { "10.0.0.0/8", "127.0.0.0/8" } } });
        await Platform.PutOkAsync("/v1/tenants/smalls", new { hostnames = new[] { "smalls.test" }, pool = "small" });
        await Platform.PutOkAsync("/v1/tenants/smalls/clusters/web", new { });
        await AssertInvalid("/v1/tenants/smalls/routes/big", new { cluster = "web", maxRequestBodyBytes = 2000 }, "maxRequestBodyBytes");
        await AssertInvalid("/v1/tenants/smalls/clusters/web/backends/meta", new { address = "http://169.254.169.254" }, "backends.meta.address");
        await AssertInvalid("/v1/tenants/smalls/clusters/api", new { }, null, "/v1/tenants/smalls/clusters/api/backends/x",
            new { address = "http://[fd00::1]:80" }, "backends.x.address");
        await Platform.PutOkAsync("/v1/tenants/smalls/clusters/web/backends/inside", new { address = "http://10.1.2.3:8080" });
        await Platform.PutOkAsync("/v1/tenants/smalls/routes/fits", new { cluster = "web", maxRequestBodyBytes = 1000 });

        using (var shrink = await Platform.PutAsync("/v1/pools/small", new { limits = new { maxRequestBodyBytes = 500, allowedBackendNetworks = new[] { "127.0.0.0/8" } } }))
        {
            var text = await shrink.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.Conflict, shrink.StatusCode);
            Assert.Contains("smalls/fits", text, StringComparison.Ordinal);
            Assert.Contains("smalls/web/inside", text, StringComparison.Ordinal);
        }
        var pool = JsonNode.Parse(await Platform.Admin.GetStringAsync("/v1/pools/small"))!;
        Assert.Equal(1000, pool["limits"]!["maxRequestBodyBytes"]!.GetValue<long>());
        var pools = JsonNode.Parse(await Platform.Admin.GetStringAsync("/v1/pools"))!["items"]!.AsArray().Select(p => p!["id"]!.GetValue<string>()).ToList();
        Assert.Contains("default", pools);
        Assert.Contains("small", pools);

        // A pool that serves tenants cannot be deleted; the default pool never.
        using (var busy = await Platform.Admin.DeleteAsync("/v1/pools/small"))
            Assert.Equal(HttpStatusCode.Conflict, busy.StatusCode);
        using (var always = await Platform.Admin.DeleteAsync("/v1/pools/default"))
            Assert.Equal(HttpStatusCode.Conflict, always.StatusCode);
    }

    [Fact]
    public async Task A_tenants_pool_must_exist_and_a_worker_cannot_join_a_pool_that_does_not()
    {
        using (var missing = await Platform.PutAsync("/v1/tenants/lost", new { hostnames = new[] { "lost.test" }, pool = "nowhere" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
            Assert.Equal("pool", JsonNode.Parse(await missing.Content.ReadAsStringAsync())!["field"]!.GetValue<string>());
        }
        var stray = await Platform.StartWorkerAsync("stray-1", 0, "--DataPlane:Pool=nowhere");
        await Eventually.Async(() => stray.Process.Output.Contains("does not exist", StringComparison.Ordinal), null,
            () => $"the worker of pool 'nowhere' was not refused:\n{stray.Process.Output}");
        Assert.False((await stray.StatsAsync()).Connected);
        using var dataplanes = await Platform.Admin.GetAsync("/v1/dataplanes");
        Assert.DoesNotContain("stray-1", await dataplanes.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private async Task<string> DefaultsTenantAsync()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        await Platform.PutOkAsync($"/v1/tenants/valid-defaults-{suffix}", new { hostnames = new[] { $"{suffix}.defaults.test" } });
        return suffix;
    }

    private async Task AssertQuotaExceeded(string path, object body, string quota, long limit, long use, int silo = 0)
    {
        using var response = await Platform.Silos[silo].PutAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"PUT {path}: {(int)response.StatusCode} {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(text)!;
        Assert.Equal("https://proxyplatform.dev/problems/quota-exceeded", problem["type"]!.GetValue<string>());
        Assert.Equal(quota, problem["quota"]!.GetValue<string>());
        Assert.Equal(limit, problem["limit"]!.GetValue<long>());
        Assert.Equal(use, problem["use"]!.GetValue<long>());
        using var absent = await Platform.Admin.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, absent.StatusCode);
    }

    private async Task AssertInvalid(string path, object body, string? field, string? thenPath = null, object? thenBody = null, string? thenField = null)
    {
        using var response = await Platform.PutAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        if (field is null)
        {
            Assert.True(response.IsSuccessStatusCode, text);
            await AssertInvalid(thenPath!, thenBody!, thenField);
            return;
        }
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"PUT {path}: {(int)response.StatusCode} {text}");
        Assert.Equal(field, JsonNode.Parse(text)!["field"]!.GetValue<string>());
        using var absent = await Platform.Admin.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, absent.StatusCode);
    }
}
