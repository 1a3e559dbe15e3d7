using System.Net;
using System.Text.Json.Nodes;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Tenancy;

/// <summary>One platform of two silos for the tenancy tests that only write and read through the admin API.</summary>
public sealed class TenancyFixture : IAsyncLifetime
{
    public Platform Platform { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Platform = await Platform.StartAsync("tenancy", workers: 1, silos: 2);

    public async ValueTask DisposeAsync() => await Platform.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class TenancyCollection : ICollectionFixture<TenancyFixture>
{
    public const string Name = "tenancy";
}

/// <summary>
/// A host name has one owner across the platform, all pools and silos included (DESIGN.md, "Tenancy"):
/// overlapping claims are 409 problem+json, and a route's hosts lie within its tenant's claims.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class HostOwnershipTests(TenancyFixture fixture)
{
    private Platform Platform => fixture.Platform;

    [Fact]
    public async Task Two_tenants_racing_for_one_host_on_two_silos_and_two_pools_exactly_one_wins()
    {
        await Platform.PutOkAsync("/v1/pools/race", new { });
        for (var round = 0; round < 8; round++)
        {
            var host = $"race{round}.test";
            // Each claim goes to another silo, and the tenants are served by different pools.
            var claims = await Task.WhenAll(
                Platform.Silos[0].PutAsync($"/v1/tenants/ra{round}", new { hostnames = new[] { host } }),
                Platform.Silos[1].PutAsync($"/v1/tenants/rb{round}", new { hostnames = new[] { host.ToUpperInvariant() + "." }, pool = "race" }));
            try
            {
                var statuses = claims.Select(c => c.StatusCode).Order().ToList();
                Assert.True(statuses is [HttpStatusCode.Created, HttpStatusCode.Conflict],
                    $"round {round}: {string.Join(", ", statuses)}: {string.Join(" | ", await Task.WhenAll(claims.Select(c => c.Content.ReadAsStringAsync())))}");
                var loser = claims.Single(c => c.StatusCode == HttpStatusCode.Conflict);
                Assert.Equal("application/problem+json", loser.Content.Headers.ContentType?.MediaType);
                Assert.Contains(host, await loser.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
            finally
            {
                foreach (var c in claims)
                    c.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("*.wild.test", "a.wild.test")]
    [InlineData("*.wild.test", "a.b.wild.test")]
    [InlineData("*.wild.test", "*.b.wild.test")]
    [InlineData("a.wild.test", "*.wild.test")]
    [InlineData("same.wild.test", "SAME.wild.test.")]
    public async Task A_claim_that_equals_or_overlaps_another_tenants_claim_is_a_conflict(string first, string second)
    {
        var (a, b) = ($"ov{Guid.NewGuid():N}"[..12], $"ov{Guid.NewGuid():N}"[..12]);
        var zone = $"{a}.test";
        await Platform.PutOkAsync($"/v1/tenants/{a}", new { hostnames = new[] { first.Replace("wild.test", zone, StringComparison.Ordinal) } });
        using var refused = await Platform.PutAsync($"/v1/tenants/{b}", new { hostnames = new[] { second.Replace("wild.test", zone, StringComparison.Ordinal) } });
        var body = await refused.Content.ReadAsStringAsync();
        Assert.True(refused.StatusCode == HttpStatusCode.Conflict, $"{(int)refused.StatusCode}: {body}");
        Assert.Equal("https://proxyplatform.dev/problems/conflict", JsonNode.Parse(body)!["type"]!.GetValue<string>());
        Assert.Contains(a, body, StringComparison.Ordinal);
        using var absent = await Platform.Admin.GetAsync($"/v1/tenants/{b}");
        Assert.Equal(HttpStatusCode.NotFound, absent.StatusCode);
    }

    [Fact]
    public async Task A_wildcard_does_not_cover_its_own_apex_and_a_deleted_tenant_frees_its_hosts()
    {
        await Platform.PutOkAsync("/v1/tenants/apex-w", new { hostnames = new[] { "*.apex.test" } });
        await Platform.PutOkAsync("/v1/tenants/apex-e", new { hostnames = new[] { "apex.test" } });
        using (var taken = await Platform.PutAsync("/v1/tenants/apex-x", new { hostnames = new[] { "apex.test" } }))
            Assert.Equal(HttpStatusCode.Conflict, taken.StatusCode);
        await Platform.Silos[1].DeleteOkAsync("/v1/tenants/apex-e");
        await Platform.PutOkAsync("/v1/tenants/apex-x", new { hostnames = new[] { "apex.test" } });
    }

    [Fact]
    public async Task A_tenant_claims_at_least_one_host_and_host_names_are_stored_normalized()
    {
        using (var none = await Platform.PutAsync("/v1/tenants/nohost", new { }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, none.StatusCode);
            Assert.Equal("hostnames", JsonNode.Parse(await none.Content.ReadAsStringAsync())!["field"]!.GetValue<string>());
        }
        await Platform.PutOkAsync("/v1/tenants/norm", new { hostnames = new[] { "Norm.TEST.", "norm.test", "bücher.norm.test" } });
        var tenant = JsonNode.Parse(await Platform.Admin.GetStringAsync("/v1/tenants/norm"))!;
        Assert.Equal(["norm.test", "xn--bcher-kva.norm.test"], tenant["hostnames"]!.AsArray().Select(h => h!.GetValue<string>()));
    }

    [Fact]
    public async Task A_routes_hosts_must_lie_within_its_tenants_claims()
    {
        await Platform.PutOkAsync("/v1/tenants/claims", new { hostnames = new[] { "claims.test", "*.wild-claims.test" } });
        await Platform.PutOkAsync("/v1/tenants/claims/clusters/web", new { });
        await Platform.PutOkAsync("/v1/tenants/claims/routes/inside", new { match = new { hosts = new[] { "CLAIMS.test", "a.b.wild-claims.test", "*.x.wild-claims.test" } }, cluster = "web" });

        using var outside = await Platform.PutAsync("/v1/tenants/claims/routes/outside", new { match = new { hosts = new[] { "claims.test", "victim.test" } }, cluster = "web" });
        var problem = JsonNode.Parse(await outside.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.BadRequest, outside.StatusCode);
        Assert.Equal("match.hosts[1]", problem["field"]!.GetValue<string>());
        using (var absent = await Platform.Admin.GetAsync("/v1/tenants/claims/routes/outside"))
            Assert.Equal(HttpStatusCode.NotFound, absent.StatusCode);

        // The apex of a wildcard claim is not within it.
        using (var apex = await Platform.PutAsync("/v1/tenants/claims/routes/apex", new { match = new { hosts = new[] { "wild-claims.test" } }, cluster = "web" }))
            Assert.Equal(HttpStatusCode.BadRequest, apex.StatusCode);

        // Claims cannot shrink below the routes that use them: 409 naming the route.
        using var shrink = await Platform.PutAsync("/v1/tenants/claims", new { hostnames = new[] { "claims.test" } });
        Assert.Equal(HttpStatusCode.Conflict, shrink.StatusCode);
        Assert.Contains("inside", await shrink.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tenants_unmatched_path_on_its_own_host_is_404_even_when_another_tenant_has_a_catch_all()
    {
        await using var backend = await TestBackend.StartAsync("nofall");
        await Platform.CreateServiceAsync("fall-a", "fall-a.test", [backend], pathPrefix: "/api");
        var worker = Platform.Workers[0];
        await worker.WaitForRevisionAsync(await Platform.CreateServiceAsync("fall-b", "fall-b.test", [backend], pathPrefix: "/"));

        Assert.Equal("nofall", (await worker.EchoAsync("fall-a.test", "/api/x")).Backend);
        Assert.Equal("nofall", (await worker.EchoAsync("fall-b.test", "/web")).Backend);
        // fall-a's miss stays fall-a's: fall-b's "/" never sees it; a host nobody claims matches nothing.
        foreach (var (host, type) in new[] { ("fall-a.test", "no-route"), ("nobody.test", "unknown-host") })
        {
            using var miss = await worker.GetAsync(host, "/web");
            Assert.Equal(HttpStatusCode.NotFound, miss.StatusCode);
            Assert.Equal($"https://proxyplatform.dev/problems/{type}", JsonNode.Parse(await miss.Content.ReadAsStringAsync())!["type"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task Host_names_pool_and_quotas_are_for_operators_only()
    {
        await Platform.PutOkAsync("/v1/tenants/own", new { hostnames = new[] { "own.test" } });
        var key = await KeyAsync("tenant-admin", "own");
        using var client = Platform.Silos[0].Client(key);
        using var grab = await client.PutAsync("/v1/tenants/own", Json(new { hostnames = new[] { "own.test", "more.test" } }));
        Assert.Equal(HttpStatusCode.Forbidden, grab.StatusCode);
        using var pools = await client.GetAsync("/v1/pools");
        Assert.Equal(HttpStatusCode.Forbidden, pools.StatusCode);
    }

    private async Task<string> KeyAsync(string role, string tenant)
    {
        using var response = await Platform.Admin.PostAsync("/v1/keys", Json(new { name = "k", role, tenant }));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["secret"]!.GetValue<string>();
    }

    private static StringContent Json(object body) =>
        new(System.Text.Json.JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");
}
