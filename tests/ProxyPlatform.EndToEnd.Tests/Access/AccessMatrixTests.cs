using System.Net;
using System.Text;
using Grpc.Core;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.EndToEnd.Tests.Access;

/// <summary>What an endpoint lets through, from which the status each identity gets follows.</summary>
public enum Access
{
    /// <summary>Any admin key; a tenant's key sees its own tenant only (lists are filtered).</summary>
    AnyAdminKey,
    /// <summary>Reads of tenant alpha: alpha's keys and operators; beta's key gets 404, as if alpha did not exist.</summary>
    TenantRead,
    /// <summary>Changes to alpha's clusters, backends, routes: alpha's admin and operators; alpha's viewer 403; beta's key 404.</summary>
    TenantWrite,
    /// <summary>Alpha itself (host names, pool): operators only; alpha's keys 403; beta's key 404.</summary>
    TenantSettings,
    /// <summary>Listing keys: admins of a tenant (their own) and operators; viewers 403.</summary>
    KeysRead,
    /// <summary>One of alpha's keys (read, create, revoke): alpha's admin and operators; alpha's viewer 403; beta's key 404.</summary>
    TenantKeys,
    /// <summary>Operators only; any tenant key 403.</summary>
    OperatorOnly,
    /// <summary>A revision of one of alpha's writes: alpha's keys and operators; beta's key 404.</summary>
    TenantRevision,
}

/// <summary>
/// Every REST endpoint and gRPC method of the admin API, called as every kind of caller: no key, a
/// malformed, unknown, revoked or expired key, a tenant's viewer, another tenant's admin, the tenant's
/// admin, a stored operator key and the bootstrap key. Each gets exactly the status its right calls for.
/// </summary>
public sealed class AccessMatrixTests(AccessFixture fixture) : IClassFixture<AccessFixture>
{
    private static readonly Identity[] Refused = [Identity.None, Identity.Malformed, Identity.Unknown, Identity.Revoked, Identity.Expired];

    /// <summary>The HTTP status <paramref name="identity"/> gets from an endpoint of <paramref name="access"/> that answers <paramref name="ok"/> when allowed.</summary>
    private static int Expected(Access access, Identity identity, int ok)
    {
        if (Refused.Contains(identity))
            return 401;
        if (identity is Identity.Operator or Identity.StoredOperator)
            return ok;
        return (access, identity) switch
        {
            (Access.AnyAdminKey, _) => ok,
            (Access.OperatorOnly, _) => 403,
            (Access.KeysRead, Identity.TenantViewer) => 403,
            (Access.KeysRead, _) => ok,
            (_, Identity.OtherTenantAdmin) => 404,
            (Access.TenantRead or Access.TenantRevision, _) => ok,
            (Access.TenantWrite or Access.TenantKeys, Identity.TenantAdmin) => ok,
            _ => 403,
        };
    }

    private static StatusCode GrpcStatusOf(int http) => http switch
    {
        200 or 201 or 204 => StatusCode.OK,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.NotFound,
        409 => StatusCode.FailedPrecondition,
        _ => throw new ArgumentOutOfRangeException(nameof(http), http, null),
    };

    /// <summary>One REST endpoint: what it needs, what it answers when allowed, and (for deletes) what to make first.</summary>
    public sealed record RestCase(string Name, string Method, string Path, string? Body, Access Access, int Ok, Func<AccessFixture, Task<string>>? Setup = null)
    {
        public override string ToString() => Name;
    }

    private const string Alpha = "/v1/tenants/alpha";
    private const string AlphaDocument = """{"clusters":{"web":{"backends":{"a":{"address":"http://127.0.0.1:9"}}}},"routes":{"api":{"match":{"pathPrefix":"/api"},"cluster":"web"}}}""";

    public static readonly TheoryData<RestCase> RestCases =
    [
        new RestCase("list tenants", "GET", "/v1/tenants", null, Access.AnyAdminKey, 200),
        new RestCase("get tenant", "GET", Alpha, null, Access.TenantRead, 200),
        new RestCase("put tenant", "PUT", Alpha, """{"hostnames":["alpha.test"]}""", Access.TenantSettings, 200),
        new RestCase("delete tenant", "DELETE", Alpha, null, Access.TenantSettings, 409),
        new RestCase("list clusters", "GET", $"{Alpha}/clusters", null, Access.TenantRead, 200),
        new RestCase("get cluster", "GET", $"{Alpha}/clusters/web", null, Access.TenantRead, 200),
        new RestCase("put cluster", "PUT", $"{Alpha}/clusters/web", "{}", Access.TenantWrite, 200),
        new RestCase("delete cluster", "DELETE", $"{Alpha}/clusters/web", null, Access.TenantWrite, 409),
        new RestCase("list backends", "GET", $"{Alpha}/clusters/web/backends", null, Access.TenantRead, 200),
        new RestCase("get backend", "GET", $"{Alpha}/clusters/web/backends/a", null, Access.TenantRead, 200),
        new RestCase("put backend", "PUT", $"{Alpha}/clusters/web/backends/a", """{"address":"http://127.0.0.1:9"}""", Access.TenantWrite, 200),
        new RestCase("delete backend", "DELETE", "", null, Access.TenantWrite, 204, async f =>
        {
            var path = $"{Alpha}/clusters/web/backends/d{Guid.NewGuid():N}"[..^20];
            await f.Platform.PutOkAsync(path, new { address = "http://127.0.0.1:9" });
            return path;
        }),
        new RestCase("backend health history", "GET", $"{Alpha}/clusters/web/backends/a/health-history", null, Access.TenantRead, 200),
        new RestCase("list routes", "GET", $"{Alpha}/routes", null, Access.TenantRead, 200),
        new RestCase("get route", "GET", $"{Alpha}/routes/api", null, Access.TenantRead, 200),
        new RestCase("put route", "PUT", $"{Alpha}/routes/api", """{"match":{"pathPrefix":"/api"},"cluster":"web"}""", Access.TenantWrite, 200),
        new RestCase("delete route", "DELETE", "", null, Access.TenantWrite, 204, async f =>
        {
            var path = $"{Alpha}/routes/d{Guid.NewGuid():N}"[..^20];
            // Each its own prefix: two routes with one match would shadow each other and be refused.
            await f.Platform.PutOkAsync(path, new { match = new { pathPrefix = "/gone/" + path[^12..] }, cluster = "web" });
            return path;
        }),
        new RestCase("list certificates", "GET", $"{Alpha}/certificates", null, Access.TenantRead, 200),
        new RestCase("get certificate", "GET", $"{Alpha}/certificates/web", null, Access.TenantRead, 200),
        new RestCase("put certificate", "PUT", $"{Alpha}/certificates/web", AccessFixture.AlphaCertificateJson, Access.TenantWrite, 200),
        new RestCase("delete certificate", "DELETE", "", null, Access.TenantWrite, 204, async f =>
        {
            var path = $"{Alpha}/certificates/d{Guid.NewGuid():N}"[..^20];
            await f.Platform.PutOkAsync(path, new { certificate = AccessFixture.AlphaCertificate.ChainPem, privateKey = AccessFixture.AlphaCertificate.KeyPem });
            return path;
        }),
        new RestCase("tenant metrics", "GET", $"{Alpha}/metrics", null, Access.TenantRead, 200),
        new RestCase("tenant traffic history", "GET", $"{Alpha}/metrics/history", null, Access.TenantRead, 200),
        new RestCase("explain a request", "POST", $"{Alpha}/explain", """{"method":"GET","host":"alpha.test","path":"/api/x"}""", Access.TenantRead, 200),
        new RestCase("get config", "GET", $"{Alpha}/config", null, Access.TenantRead, 200),
        new RestCase("get config as of a revision", "GET", "", null, Access.TenantRead, 200, f => Task.FromResult($"{Alpha}/config?revision={f.AlphaRevision}")),
        new RestCase("apply config (dry run)", "PUT", $"{Alpha}/config?dryRun=true", AlphaDocument, Access.TenantWrite, 200),
        // Revision 1, the platform's first commit: alpha had nothing then, which a dry run may well go back to.
        new RestCase("rollback (dry run)", "POST", $"{Alpha}/rollback?dryRun=true", """{"revision":1}""", Access.TenantWrite, 200),
        new RestCase("list workers", "GET", "/v1/dataplanes", null, Access.OperatorOnly, 200),
        new RestCase("revision of alpha", "GET", "", null, Access.TenantRevision, 200, f => Task.FromResult($"/v1/revisions/{f.AlphaRevision}")),
        new RestCase("create a key of alpha", "POST", "/v1/keys", """{"name":"another","role":"tenant-viewer","tenant":"alpha"}""", Access.TenantKeys, 201),
        new RestCase("list keys", "GET", "/v1/keys", null, Access.KeysRead, 200),
        new RestCase("get a key of alpha", "GET", "", null, Access.TenantKeys, 200, f => Task.FromResult($"/v1/keys/{f.KeyIds[Identity.TenantViewer]}")),
        new RestCase("revoke a key of alpha", "DELETE", "", null, Access.TenantKeys, 204, async f =>
            $"/v1/keys/{(await AccessFixture.CreateKeyAsync(f.Platform.Admin, "tenant-viewer", "alpha"))["id"]}"),
        new RestCase("list pools", "GET", "/v1/pools", null, Access.OperatorOnly, 200),
        new RestCase("get pool", "GET", "/v1/pools/default", null, Access.OperatorOnly, 200),
        new RestCase("put pool", "PUT", "/v1/pools/default", "{}", Access.OperatorOnly, 200),
        new RestCase("patch pool", "PATCH", "/v1/pools/default", "{}", Access.OperatorOnly, 200),
        new RestCase("delete pool", "DELETE", "", null, Access.OperatorOnly, 204, async f =>
        {
            var path = $"/v1/pools/d{Guid.NewGuid():N}"[..^20];
            await f.Platform.PutOkAsync(path, new { });
            return path;
        }),
        new RestCase("issue a pool token", "POST", "/v1/pools/default/tokens", """{"name":"w"}""", Access.OperatorOnly, 201),
        new RestCase("list pool tokens", "GET", "/v1/pools/default/tokens", null, Access.OperatorOnly, 200),
        new RestCase("revoke a pool token", "DELETE", "", null, Access.OperatorOnly, 204, async f =>
        {
            using var issued = await f.Platform.Admin.PostAsync("/v1/pools/default/tokens", new StringContent("""{"name":"doomed"}""", Encoding.UTF8, "application/json"));
            var id = System.Text.Json.Nodes.JsonNode.Parse(await issued.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
            return $"/v1/pools/default/tokens/{id}";
        }),
        new RestCase("audit trail", "GET", "/v1/audit", null, Access.OperatorOnly, 200),
        new RestCase("audit trail of alpha", "GET", $"{Alpha}/audit", null, Access.TenantRead, 200),
    ];

    [Theory]
    [MemberData(nameof(RestCases))]
    public async Task Each_REST_endpoint_answers_each_caller_as_its_rights_say(RestCase endpoint)
    {
        var mismatches = new List<string>();
        foreach (var identity in Enum.GetValues<Identity>())
        {
            var path = endpoint.Setup is null ? endpoint.Path : await endpoint.Setup(fixture);
            using var client = fixture.ClientOf(identity);
            using var request = new HttpRequestMessage(new HttpMethod(endpoint.Method), path);
            if (endpoint.Body is not null)
                request.Content = new StringContent(endpoint.Body, Encoding.UTF8, "application/json");
            using var response = await client.SendAsync(request);
            var expected = Expected(endpoint.Access, identity, endpoint.Ok);
            if ((int)response.StatusCode != expected)
                mismatches.Add($"{identity}: {(int)response.StatusCode} (expected {expected}) {await response.Content.ReadAsStringAsync()}");
            if (expected == 401)
            {
                // A refusal says how to authenticate, as problem+json.
                if (!response.Headers.WwwAuthenticate.Any(h => h.Scheme == "Bearer"))
                    mismatches.Add($"{identity}: 401 without WWW-Authenticate: Bearer");
                if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
                    mismatches.Add($"{identity}: 401 is {response.Content.Headers.ContentType}, not problem+json");
            }
        }
        Assert.True(mismatches.Count == 0, $"{endpoint.Method} {endpoint.Name}:\n{string.Join("\n", mismatches)}");
    }

    /// <summary>One gRPC method: what it needs and what it answers when allowed.</summary>
    public sealed record GrpcCase(string Method, Access Access, int Ok, Func<AdminPb.Admin.AdminClient, AccessFixture, Task> Call)
    {
        public override string ToString() => Method;
    }

    public static readonly TheoryData<GrpcCase> GrpcCases =
    [
        new GrpcCase("ListTenants", Access.AnyAdminKey, 200, async (c, _) => await c.ListTenantsAsync(new())),
        new GrpcCase("GetTenant", Access.TenantRead, 200, async (c, _) => await c.GetTenantAsync(new() { Tenant = "alpha" })),
        new GrpcCase("PutTenant", Access.TenantSettings, 200, async (c, _) => await c.PutTenantAsync(new() { Tenant = "alpha", Spec = new() { Hostnames = { "alpha.test" } } })),
        new GrpcCase("DeleteTenant", Access.TenantSettings, 409, async (c, _) => await c.DeleteTenantAsync(new() { Tenant = "alpha" })),
        new GrpcCase("ListClusters", Access.TenantRead, 200, async (c, _) => await c.ListClustersAsync(new() { Tenant = "alpha" })),
        new GrpcCase("ListDataplanes", Access.OperatorOnly, 200, async (c, _) => await c.ListDataplanesAsync(new())),
        new GrpcCase("GetRevision", Access.TenantRevision, 200, async (c, f) => await c.GetRevisionAsync(new() { Revision = f.AlphaRevision })),
        new GrpcCase("GetCluster", Access.TenantRead, 200, async (c, _) => await c.GetClusterAsync(new() { Tenant = "alpha", Cluster = "web" })),
        new GrpcCase("PutCluster", Access.TenantWrite, 200, async (c, _) => await c.PutClusterAsync(new() { Tenant = "alpha", Cluster = "web", Spec = new() })),
        new GrpcCase("DeleteCluster", Access.TenantWrite, 409, async (c, _) => await c.DeleteClusterAsync(new() { Tenant = "alpha", Cluster = "web" })),
        new GrpcCase("ListBackends", Access.TenantRead, 200, async (c, _) => await c.ListBackendsAsync(new() { Tenant = "alpha", Cluster = "web" })),
        new GrpcCase("GetBackend", Access.TenantRead, 200, async (c, _) => await c.GetBackendAsync(new() { Tenant = "alpha", Cluster = "web", Backend = "a" })),
        new GrpcCase("PutBackend", Access.TenantWrite, 200, async (c, _) => await c.PutBackendAsync(new() { Tenant = "alpha", Cluster = "web", Backend = "a", Spec = new() { Address = "http://127.0.0.1:9" } })),
        new GrpcCase("DeleteBackend", Access.TenantWrite, 204, async (c, f) =>
        {
            var backend = $"g{Guid.NewGuid():N}"[..12];
            await f.Platform.PutOkAsync($"{Alpha}/clusters/web/backends/{backend}", new { address = "http://127.0.0.1:9" });
            await c.DeleteBackendAsync(new() { Tenant = "alpha", Cluster = "web", Backend = backend });
        }),
        new GrpcCase("GetBackendHealthHistory", Access.TenantRead, 200, async (c, _) => await c.GetBackendHealthHistoryAsync(new() { Tenant = "alpha", Cluster = "web", Backend = "a" })),
        new GrpcCase("ListRoutes", Access.TenantRead, 200, async (c, _) => await c.ListRoutesAsync(new() { Tenant = "alpha" })),
        new GrpcCase("GetRoute", Access.TenantRead, 200, async (c, _) => await c.GetRouteAsync(new() { Tenant = "alpha", Route = "api" })),
        new GrpcCase("PutRoute", Access.TenantWrite, 200, async (c, _) => await c.PutRouteAsync(new() { Tenant = "alpha", Route = "api", Spec = new() { Match = new() { PathPrefix = "/api" }, Cluster = "web" } })),
        new GrpcCase("DeleteRoute", Access.TenantWrite, 204, async (c, f) =>
        {
            var route = $"g{Guid.NewGuid():N}"[..12];
            await f.Platform.PutOkAsync($"{Alpha}/routes/{route}", new { match = new { pathPrefix = "/gone/" + route }, cluster = "web" });
            await c.DeleteRouteAsync(new() { Tenant = "alpha", Route = route });
        }),
        new GrpcCase("ListCertificates", Access.TenantRead, 200, async (c, _) => await c.ListCertificatesAsync(new() { Tenant = "alpha" })),
        new GrpcCase("GetCertificate", Access.TenantRead, 200, async (c, _) => await c.GetCertificateAsync(new() { Tenant = "alpha", Certificate = "web" })),
        new GrpcCase("PutCertificate", Access.TenantWrite, 200, async (c, _) => await c.PutCertificateAsync(new()
        {
            Tenant = "alpha", Certificate = "web",
            Spec = new() { Certificate = AccessFixture.AlphaCertificate.ChainPem, PrivateKey = AccessFixture.AlphaCertificate.KeyPem },
        })),
        new GrpcCase("DeleteCertificate", Access.TenantWrite, 204, async (c, f) =>
        {
            var certificate = $"g{Guid.NewGuid():N}"[..12];
            await f.Platform.PutOkAsync($"{Alpha}/certificates/{certificate}", new { certificate = AccessFixture.AlphaCertificate.ChainPem, privateKey = AccessFixture.AlphaCertificate.KeyPem });
            await c.DeleteCertificateAsync(new() { Tenant = "alpha", Certificate = certificate });
        }),
        new GrpcCase("GetTenantMetrics", Access.TenantRead, 200, async (c, _) => await c.GetTenantMetricsAsync(new() { Tenant = "alpha" })),
        new GrpcCase("GetTenantTrafficHistory", Access.TenantRead, 200, async (c, _) => await c.GetTenantTrafficHistoryAsync(new() { Tenant = "alpha" })),
        new GrpcCase("GetConfig", Access.TenantRead, 200, async (c, _) => await c.GetConfigAsync(new() { Tenant = "alpha" })),
        new GrpcCase("ApplyConfig", Access.TenantWrite, 200, async (c, _) => await c.ApplyConfigAsync(new() { Tenant = "alpha", Document = AlphaDocument, DryRun = true })),
        new GrpcCase("Rollback", Access.TenantWrite, 200, async (c, f) => await c.RollbackAsync(new() { Tenant = "alpha", Revision = f.AlphaRevision, DryRun = true })),
        new GrpcCase("ExplainRequest", Access.TenantRead, 200, async (c, _) => await c.ExplainRequestAsync(new() { Tenant = "alpha", Method = "GET", Host = "alpha.test", Path = "/api/x" })),
        new GrpcCase("CreateKey", Access.TenantKeys, 201, async (c, _) => await c.CreateKeyAsync(new() { Name = "another", Role = "tenant-viewer", Tenant = "alpha" })),
        new GrpcCase("ListKeys", Access.KeysRead, 200, async (c, _) => await c.ListKeysAsync(new())),
        new GrpcCase("GetKey", Access.TenantKeys, 200, async (c, f) => await c.GetKeyAsync(new() { Id = f.KeyIds[Identity.TenantViewer] })),
        new GrpcCase("RevokeKey", Access.TenantKeys, 204, async (c, f) =>
            await c.RevokeKeyAsync(new() { Id = (await AccessFixture.CreateKeyAsync(f.Platform.Admin, "tenant-viewer", "alpha"))["id"]!.GetValue<string>() })),
        new GrpcCase("ListPools", Access.OperatorOnly, 200, async (c, _) => await c.ListPoolsAsync(new())),
        new GrpcCase("GetPool", Access.OperatorOnly, 200, async (c, _) => await c.GetPoolAsync(new() { Pool = "default" })),
        new GrpcCase("PutPool", Access.OperatorOnly, 200, async (c, _) => await c.PutPoolAsync(new() { Pool = "default", Spec = new() })),
        new GrpcCase("PatchPool", Access.OperatorOnly, 200, async (c, _) => await c.PatchPoolAsync(new() { Pool = "default", MergePatch = "{}" })),
        new GrpcCase("DeletePool", Access.OperatorOnly, 204, async (c, f) =>
        {
            var pool = $"g{Guid.NewGuid():N}"[..12];
            await f.Platform.PutOkAsync($"/v1/pools/{pool}", new { });
            await c.DeletePoolAsync(new() { Pool = pool });
        }),
        new GrpcCase("CreatePoolToken", Access.OperatorOnly, 201, async (c, _) => await c.CreatePoolTokenAsync(new() { Pool = "default", Name = "w" })),
        new GrpcCase("ListPoolTokens", Access.OperatorOnly, 200, async (c, _) => await c.ListPoolTokensAsync(new() { Pool = "default" })),
        new GrpcCase("RevokePoolToken", Access.OperatorOnly, 204, async (c, f) =>
        {
            using var issued = await f.Platform.Admin.PostAsync("/v1/pools/default/tokens", new StringContent("""{"name":"doomed"}""", Encoding.UTF8, "application/json"));
            var id = System.Text.Json.Nodes.JsonNode.Parse(await issued.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
            await c.RevokePoolTokenAsync(new() { Pool = "default", Id = id });
        }),
        new GrpcCase("ListAudit", Access.OperatorOnly, 200, async (c, _) => await c.ListAuditAsync(new())),
        new GrpcCase("ListAudit (tenant)", Access.TenantRead, 200, async (c, _) => await c.ListAuditAsync(new() { Tenant = "alpha", TenantScoped = true })),
    ];

    [Theory]
    [MemberData(nameof(GrpcCases))]
    public async Task Each_gRPC_method_answers_each_caller_as_its_rights_say(GrpcCase method)
    {
        var mismatches = new List<string>();
        foreach (var identity in Enum.GetValues<Identity>())
        {
            using var channel = AdminGrpc.Channel(fixture.Platform, fixture.Secrets[identity] ?? "");
            var expected = GrpcStatusOf(Expected(method.Access, identity, method.Ok));
            var actual = StatusCode.OK;
            var detail = "";
            try
            {
                await method.Call(new AdminPb.Admin.AdminClient(channel), fixture);
            }
            catch (RpcException ex)
            {
                (actual, detail) = (ex.StatusCode, ex.Status.Detail);
            }
            if (actual != expected)
                mismatches.Add($"{identity}: {actual} (expected {expected}) {detail}");
        }
        Assert.True(mismatches.Count == 0, $"{method.Method}:\n{string.Join("\n", mismatches)}");
    }

    [Fact]
    public void Every_gRPC_admin_method_is_in_the_matrix()
    {
        var covered = GrpcCases.Select(c => ((GrpcCase)c.Data).Method).ToHashSet();
        var missing = AdminPb.Admin.Descriptor.Methods.Select(m => m.Name).Where(m => !covered.Contains(m)).ToList();
        Assert.True(missing.Count == 0, $"gRPC admin methods with no row in the access matrix: {string.Join(", ", missing)}");
    }

    [Theory]
    [InlineData("/V1/tenants")]
    [InlineData("/v1/TENANTS")]
    [InlineData("/v1/Tenants/alpha/ROUTES")]
    [InlineData("/v1/tenants/")]
    [InlineData("/v1/no-such-endpoint")]
    [InlineData("/v1//tenants")]
    public async Task Paths_spelled_another_way_need_a_key_too(string path)
    {
        using var anonymous = fixture.ClientOf(Identity.None);
        using var response = await anonymous.GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task A_tenant_key_lists_only_its_own_tenant_and_its_own_keys()
    {
        using var beta = fixture.ClientOf(Identity.OtherTenantAdmin);
        var tenants = System.Text.Json.Nodes.JsonNode.Parse(await beta.GetStringAsync("/v1/tenants"))!["items"]!.AsArray();
        Assert.Equal(["beta"], tenants.Select(t => t!["id"]!.GetValue<string>()));
        var keys = System.Text.Json.Nodes.JsonNode.Parse(await beta.GetStringAsync("/v1/keys"))!["items"]!.AsArray();
        Assert.NotEmpty(keys);
        Assert.All(keys, k => Assert.Equal("beta", k!["tenant"]!.GetValue<string>()));
        Assert.All(keys, k => Assert.Null(k!["secret"]));
    }

    [Fact]
    public async Task A_tenant_admin_cannot_mint_a_key_beyond_its_own_rights()
    {
        using var admin = fixture.ClientOf(Identity.TenantAdmin);
        foreach (var (body, status) in new[]
        {
            ("""{"name":"x","role":"operator"}""", HttpStatusCode.Forbidden),
            ("""{"name":"x","role":"tenant-admin","tenant":"beta"}""", HttpStatusCode.NotFound),
        })
        {
            using var response = await admin.PostAsync("/v1/keys", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(status, response.StatusCode);
        }

        // A key that expires cannot make one that outlives it.
        var expiring = await AccessFixture.CreateKeyAsync(fixture.Platform.Admin, "tenant-admin", "alpha", DateTimeOffset.UtcNow.AddHours(1));
        using var limited = fixture.Platform.Silos[0].Client(expiring["secret"]!.GetValue<string>());
        using var later = await limited.PostAsync("/v1/keys", new StringContent(
            $$"""{"name":"x","role":"tenant-viewer","expiresAt":"{{DateTimeOffset.UtcNow.AddDays(1):O}}"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, later.StatusCode);
        Assert.Contains("expiresAt", await later.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        // Without an expiry of its own, the new key expires with the one that made it.
        var child = await AccessFixture.CreateKeyAsync(limited, "tenant-viewer", null);
        Assert.Equal(expiring["expiresAt"]!.GetValue<DateTimeOffset>(), child["expiresAt"]!.GetValue<DateTimeOffset>());
        Assert.Equal("alpha", child["tenant"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_listeners_keep_to_their_own_traffic()
    {
        var silo = fixture.Platform.Silos[0];
        // The admin REST API is not on the gRPC listener, even with a key.
        using var h2c = new HttpClient(new SocketsHttpHandler())
        {
            BaseAddress = new Uri(silo.GrpcUrl),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        h2c.DefaultRequestHeaders.Authorization = new("Bearer", fixture.Platform.OperatorKey);
        foreach (var path in new[] { "/v1/tenants", "/metrics", "/healthz" })
        {
            using var response = await h2c.GetAsync(path);
            Assert.False(response.IsSuccessStatusCode, $"{path} answered {(int)response.StatusCode} on the gRPC listener");
        }
        // Ops endpoints are on the ops listener only, and ask for no key there.
        using var ops = new HttpClient { BaseAddress = new Uri(silo.OpsUrl) };
        Assert.Equal(HttpStatusCode.OK, (await ops.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ops.GetAsync("/readyz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ops.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ops.GetAsync("/v1/tenants")).StatusCode);
        using var operatorClient = fixture.ClientOf(Identity.Operator);
        Assert.Equal(HttpStatusCode.NotFound, (await operatorClient.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task A_refusal_over_gRPC_says_why_in_its_status()
    {
        using var channel = AdminGrpc.Channel(fixture.Platform, "");
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await new AdminPb.Admin.AdminClient(channel).ListTenantsAsync(new()));
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.Contains("key", refused.Status.Detail, StringComparison.Ordinal);
    }
}
