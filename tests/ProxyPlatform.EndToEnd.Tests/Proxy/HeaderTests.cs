using System.Net;
using System.Net.Http.Headers;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Proxy;

/// <summary>What crosses the worker in headers, both ways, checked against httpbin's view of the request.</summary>
[Collection(ProxyCollection.Name)]
public sealed class HeaderTests(ProxyFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync()
    {
        await fixture.TenantAsync("headers", "headers.test");
        await fixture.ClusterAsync("headers", "httpbin", new { loadBalancing = "RoundRobin" }, ("httpbin", fixture.HttpBin.Address, 1));
        await fixture.ServedAsync(await fixture.PutAsync("/v1/tenants/headers/routes/main", new { match = new { pathPrefix = "/" }, cluster = "httpbin" }));
        (await fixture.Edge.WaitForStatusAsync("headers.test", "/get", 200)).Dispose();
        (await fixture.Plain.WaitForStatusAsync("headers.test", "/get", 200)).Dispose();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Hop_by_hop_headers_and_those_Connection_names_do_not_reach_the_backend()
    {
        string[] hopByHop = ["X-Secret", "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Connection"];
        // Sent straight to httpbin, every one of them arrives: what the worker drops, it drops itself.
        using (var direct = new HttpClient { BaseAddress = new Uri(fixture.HttpBin.Address) })
        {
            using var response = await direct.SendAsync(WithHopByHopHeaders(new HttpRequestMessage(HttpMethod.Get, "/headers")));
            var control = await WorkerRequests.HttpBinHeadersAsync(response);
            Assert.All(hopByHop, name => Assert.True(control.ContainsKey(name), $"the client did not send {name}"));
        }

        using var request = WithHopByHopHeaders(WorkerRequests.Request(HttpMethod.Get, "headers.test", "/headers"));
        using var proxied = await fixture.Edge.Client.SendAsync(request);
        var seen = await WorkerRequests.HttpBinHeadersAsync(proxied);

        Assert.Equal("yes", seen["X-Kept"]);
        foreach (var name in hopByHop)
            Assert.False(seen.ContainsKey(name), $"{name} reached the backend");
        if (seen.TryGetValue("Connection", out var connection))
            Assert.DoesNotContain("X-Secret", connection, StringComparison.OrdinalIgnoreCase);

        static HttpRequestMessage WithHopByHopHeaders(HttpRequestMessage request)
        {
            request.Headers.Connection.Add("X-Secret");
            request.Headers.Add("X-Secret", "1");
            request.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
            request.Headers.TryAddWithoutValidation("TE", "gzip");
            request.Headers.TryAddWithoutValidation("Trailer", "X-Checksum");
            request.Headers.TryAddWithoutValidation("Upgrade", "h2c");
            request.Headers.TryAddWithoutValidation("Proxy-Connection", "keep-alive");
            request.Headers.Add("X-Kept", "yes");
            return request;
        }
    }

    [Fact]
    public async Task X_Forwarded_For_from_an_untrusted_client_is_replaced_by_the_real_peer()
    {
        using var request = Forged();
        using var response = await fixture.Plain.Client.SendAsync(request);
        var seen = await WorkerRequests.HttpBinHeadersAsync(response);

        Assert.Equal("127.0.0.1", seen["X-Forwarded-For"]);
        Assert.Equal("127.0.0.1", seen["X-Real-IP"]);
        Assert.Equal("http", seen["X-Forwarded-Proto"]);
        Assert.Equal("headers.test", seen["X-Forwarded-Host"]);
    }

    [Fact]
    public async Task X_Forwarded_For_from_a_trusted_proxy_is_appended_to_and_names_the_client()
    {
        using var request = Forged();
        using var response = await fixture.Edge.Client.SendAsync(request);
        var seen = await WorkerRequests.HttpBinHeadersAsync(response);

        Assert.Equal("203.0.113.7, 127.0.0.1", seen["X-Forwarded-For"]);
        Assert.Equal("203.0.113.7", seen["X-Real-IP"]);
        Assert.Equal("https", seen["X-Forwarded-Proto"]);
        Assert.Equal("public.example", seen["X-Forwarded-Host"]);
        Assert.Contains(ProxyFixture.EdgeName, seen["Via"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backend_Server_X_Powered_By_configured_and_hop_by_hop_headers_do_not_reach_the_client()
    {
        const string Path = "/response-headers?X-Powered-By=PHP%2F8&X-Secret-Internal=10.0.0.5&X-Kept=yes&Connection=X-Hop&X-Hop=1&Keep-Alive=timeout%3D5";
        string[] dropped = ["Server", "X-Powered-By", "X-Secret-Internal", "X-Hop", "Keep-Alive"];
        // httpbin (Werkzeug) sends every one of them, and names itself in Server.
        using (var direct = new HttpClient { BaseAddress = new Uri(fixture.HttpBin.Address) })
        using (var control = await direct.GetAsync(Path))
            Assert.All(dropped, name => Assert.True(control.Headers.Contains(name), $"httpbin did not send {name}"));

        using var response = await fixture.Edge.Client.SendAsync(WorkerRequests.Request(HttpMethod.Get, "headers.test", Path));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("yes", response.Headers.GetValues("X-Kept").Single());
        foreach (var name in dropped)
            Assert.False(response.Headers.Contains(name), $"{name} reached the client");

        // The worker's own answers do not name its server either.
        using var own = await fixture.Edge.GetAsync("nobody.test", "/");
        Assert.Equal(HttpStatusCode.NotFound, own.StatusCode);
        Assert.False(own.Headers.Contains("Server"));
    }

    [Fact]
    public async Task A_route_whose_backend_is_the_worker_itself_answers_508_instead_of_looping()
    {
        await fixture.TenantAsync("loop", "loop.test");
        await fixture.ClusterAsync("loop", "self", new { retry = new { maxAttempts = 1, retryOn = Array.Empty<string>() } }, ("edge", fixture.Edge.ProxyUrl, 1));
        await fixture.ServedAsync(await fixture.PutAsync("/v1/tenants/loop/routes/main", new { match = new { pathPrefix = "/" }, cluster = "self", preserveHost = true }));

        using var response = await fixture.Edge.WaitForStatusAsync("loop.test", "/", 508);
        await ProxyProblem.AssertAsync(response, 508, "loop-detected", "loop/main", "loop/self");

        // A request that claims to have passed through as many proxies as allowed goes no further.
        using var hops = WorkerRequests.Request(HttpMethod.Get, "headers.test", "/headers");
        hops.Headers.Add("X-ProxyPlatform-Hops", ProxyFixture.EdgeMaxHops.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var tooMany = await fixture.Edge.Client.SendAsync(hops);
        await ProxyProblem.AssertAsync(tooMany, 508, "loop-detected", "headers/main", "headers/httpbin");
    }

    private static HttpRequestMessage Forged()
    {
        var request = WorkerRequests.Request(HttpMethod.Get, "headers.test", "/headers?show_env=1");
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        request.Headers.Add("X-Real-IP", "198.51.100.1");
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-Host", "public.example");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return request;
    }
}
