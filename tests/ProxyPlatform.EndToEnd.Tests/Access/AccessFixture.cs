using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Access;

/// <summary>
/// One platform with two tenants, <c>alpha</c> and <c>beta</c>, each with a cluster, a backend and a
/// route, and one key of each kind a caller can present: none, a malformed one, an unknown one, a
/// revoked one, an expired one, alpha's viewer, beta's admin, alpha's admin, an operator key made
/// through the API and the bootstrap operator key.
/// </summary>
public sealed class AccessFixture : IAsyncLifetime
{
    public Platform Platform { get; private set; } = null!;
    /// <summary>The secret each identity presents (null: no Authorization header at all).</summary>
    public Dictionary<Identity, string?> Secrets { get; } = [];
    /// <summary>The IDs of the stored keys, by identity.</summary>
    public Dictionary<Identity, string> KeyIds { get; } = [];
    /// <summary>A revision of alpha's own writes, and one of beta's.</summary>
    public long AlphaRevision { get; private set; }
    public long BetaRevision { get; private set; }

    /// <summary>Alpha's certificate <c>web</c>, for alpha.test.</summary>
    public static TestCertificate AlphaCertificate { get; } = TestCertificates.Issue(["alpha.test"]);

    /// <summary>The body of a PUT of <see cref="AlphaCertificate"/>.</summary>
    public static string AlphaCertificateJson => System.Text.Json.JsonSerializer.Serialize(new { certificate = AlphaCertificate.ChainPem, privateKey = AlphaCertificate.KeyPem });

    public async ValueTask InitializeAsync()
    {
        Platform = await Platform.StartAsync("access", workers: 1);
        foreach (var tenant in new[] { "alpha", "beta" })
        {
            await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"{tenant}.test" } });
            await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web", new { });
            await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/a", new { address = "http://127.0.0.1:9" });
            var certificate = tenant == "alpha" ? AlphaCertificate : TestCertificates.Issue([$"{tenant}.test"]);
            await Platform.PutOkAsync($"/v1/tenants/{tenant}/certificates/web", new { certificate = certificate.ChainPem, privateKey = certificate.KeyPem });
            var revision = await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/api", new { match = new { pathPrefix = "/api" }, cluster = "web" });
            if (tenant == "alpha")
                AlphaRevision = revision;
            else
                BetaRevision = revision;
        }

        Secrets[Identity.None] = null;
        Secrets[Identity.Malformed] = "not-a-key";
        Secrets[Identity.Unknown] = "ppk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        Secrets[Identity.Operator] = Platform.OperatorKey;
        await IssueAsync(Identity.TenantViewer, "tenant-viewer", "alpha");
        await IssueAsync(Identity.OtherTenantAdmin, "tenant-admin", "beta");
        await IssueAsync(Identity.TenantAdmin, "tenant-admin", "alpha");
        await IssueAsync(Identity.StoredOperator, "operator", null);
        await IssueAsync(Identity.Revoked, "tenant-admin", "alpha");
        using (var revoke = await Platform.Admin.DeleteAsync($"/v1/keys/{KeyIds[Identity.Revoked]}"))
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        // Expiries are in the future when keys are made: this one expires a moment later.
        await IssueAsync(Identity.Expired, "tenant-admin", "alpha", DateTimeOffset.UtcNow.AddSeconds(2));
        using var expired = Platform.Silos[0].Client(Secrets[Identity.Expired]);
        await Eventually.Async(async () =>
        {
            using var response = await expired.GetAsync("/v1/tenants/alpha");
            return response.StatusCode == HttpStatusCode.Unauthorized;
        }, null, () => "the expired key is still accepted");
    }

    public async Task IssueAsync(Identity identity, string role, string? tenant, DateTimeOffset? expiresAt = null)
    {
        var key = await CreateKeyAsync(Platform.Admin, role, tenant, expiresAt);
        Secrets[identity] = key["secret"]!.GetValue<string>();
        KeyIds[identity] = key["id"]!.GetValue<string>();
    }

    /// <summary>Creates a key through <paramref name="client"/>'s credential; fails unless it is created.</summary>
    public static async Task<JsonObject> CreateKeyAsync(HttpClient client, string role, string? tenant, DateTimeOffset? expiresAt = null)
    {
        var body = JsonSerializer.Serialize(new { name = $"{role} of {tenant ?? "all"}", role, tenant, expiresAt });
        using var response = await client.PostAsync("/v1/keys", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"POST /v1/keys answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    public HttpClient ClientOf(Identity identity) => Platform.Silos[0].Client(Secrets[identity]);

    public async ValueTask DisposeAsync()
    {
        if (Platform is not null)
            await Platform.DisposeAsync();
    }
}

/// <summary>Who presents what.</summary>
public enum Identity
{
    None,
    Malformed,
    Unknown,
    Revoked,
    Expired,
    TenantViewer,
    OtherTenantAdmin,
    TenantAdmin,
    StoredOperator,
    Operator,
}
