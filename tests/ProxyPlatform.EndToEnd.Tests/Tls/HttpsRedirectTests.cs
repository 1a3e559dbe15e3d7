using System.Net;
using System.Text;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Tls;

/// <summary>
/// A route's <c>httpsRedirect</c> and <c>hsts</c> (issue 21, part 2): plain HTTP is answered 308 to the
/// same URL over https without reaching the backend, except ACME's challenge path; HSTS is set on https
/// answers only; routes without them are untouched.
/// </summary>
public sealed class HttpsRedirectTests(OneWorkerPlatform fixture) : IClassFixture<OneWorkerPlatform>
{
    private Platform Platform => fixture.Platform;
    private Worker Worker => Platform.Workers[0];
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Plain_http_is_redirected_with_308_without_reaching_the_backend_and_https_answers_carry_HSTS()
    {
        var tenant = $"r{Guid.NewGuid():N}"[..16];
        var zone = $"{tenant}.test";
        await using var backend = await TestBackend.StartAsync(tenant);
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { zone, $"*.{zone}" } });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web", new { });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/a", new { address = backend.Address });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/secure", new { cluster = "web", httpsRedirect = true, hsts = new { maxAgeSeconds = 600, includeSubDomains = true } });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/plain", new { match = new { pathPrefix = "/plain" }, cluster = "web" });
        var certificate = TestCertificates.Issue([$"*.{zone}"]);
        var revision = await Platform.PutOkAsync($"/v1/tenants/{tenant}/certificates/site", new { certificate = certificate.ChainPem, privateKey = certificate.KeyPem });
        await Worker.WaitForRevisionAsync(revision);

        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(Worker.ProxyUrl), Timeout = TimeSpan.FromSeconds(30) };
        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Post })
        {
            using var request = new HttpRequestMessage(method, "/a/b%20c?x=1&y=2") { Content = method == HttpMethod.Post ? new StringContent("body", Encoding.UTF8) : null };
            request.Headers.Host = $"www.{zone}";
            using var response = await http.SendAsync(request, Cancel);
            Assert.Equal(HttpStatusCode.PermanentRedirect, response.StatusCode);
            Assert.Equal($"https://www.{zone}/a/b%20c?x=1&y=2", response.Headers.Location!.OriginalString);
            Assert.False(response.Headers.Contains("Strict-Transport-Security"));
        }
        Assert.Equal(0, backend.Requests);

        // ACME's HTTP-01 path stays on plain HTTP, and a route without the setting is not redirected.
        foreach (var path in new[] { "/.well-known/acme-challenge/some-token", "/plain/x" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Host = $"www.{zone}";
            using var response = await http.SendAsync(request, Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.False(response.Headers.Contains("Strict-Transport-Security"));
        }

        using var https = TlsClients.Client(Worker.HttpsUrl!, HttpVersion.Version20);
        using (var secure = await https.GetAsync($"https://www.{zone}/a", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, secure.StatusCode);
            Assert.Equal("max-age=600; includeSubDomains", Assert.Single(secure.Headers.GetValues("Strict-Transport-Security")));
        }
        using (var plain = await https.GetAsync($"https://www.{zone}/plain/x", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
            Assert.False(plain.Headers.Contains("Strict-Transport-Security"));
        }
    }

    [Fact]
    public async Task An_hsts_max_age_out_of_range_is_refused_naming_the_field()
    {
        var tenant = $"v{Guid.NewGuid():N}"[..16];
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"{tenant}.test" } });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web", new { });
        using var response = await Platform.PutAsync($"/v1/tenants/{tenant}/routes/r", new { cluster = "web", hsts = new { maxAgeSeconds = -1 } });
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        Assert.Contains("hsts.maxAgeSeconds", body, StringComparison.Ordinal);
    }
}
