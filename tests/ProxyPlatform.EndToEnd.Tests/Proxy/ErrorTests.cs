using System.Globalization;
using System.Net;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Proxy;

/// <summary>
/// Everything the worker answers itself is problem+json with a stable type, the request ID, the
/// route and cluster it matched, and never a backend's address.
/// </summary>
[Collection(ProxyCollection.Name)]
public sealed class ErrorTests(ProxyFixture fixture)
{
    private Worker Worker => fixture.Edge;

    [Fact]
    public async Task Every_error_the_worker_writes_is_a_problem_naming_request_route_and_cluster_but_no_backend()
    {
        // Reserved and never bound: nothing listens there.
        var deadPort = ReservedPorts.Take();
        var dead = deadPort.ToString(CultureInfo.InvariantCulture);
        var httpBin = fixture.HttpBin.Port.ToString(CultureInfo.InvariantCulture);
        var noRetry = new { maxAttempts = 1, retryOn = Array.Empty<string>() };
        await fixture.TenantAsync("errors", "errors.test");
        await fixture.ClusterAsync("errors", "dead", new { retry = noRetry }, ("dead", $"http://127.0.0.1:{deadPort}", 1));
        await fixture.ClusterAsync("errors", "empty", new { retry = noRetry });
        await fixture.ClusterAsync("errors", "httpbin", new { retry = noRetry }, ("httpbin", fixture.HttpBin.Address, 1));
        await fixture.ClusterAsync("errors", "slow-headers", new { retry = noRetry, timeouts = new { responseHeadersSeconds = 3 } }, ("httpbin", fixture.HttpBin.Address, 1));
        await fixture.PutAsync("/v1/tenants/errors/routes/dead", new { match = new { pathPrefix = "/dead" }, cluster = "dead" });
        await fixture.PutAsync("/v1/tenants/errors/routes/empty", new { match = new { pathPrefix = "/empty" }, cluster = "empty" });
        await fixture.PutAsync("/v1/tenants/errors/routes/slow", new { match = new { pathPrefix = "/slow" }, cluster = "httpbin", stripPrefix = true, timeoutSeconds = 1 });
        await fixture.PutAsync("/v1/tenants/errors/routes/headers", new { match = new { pathPrefix = "/headers-late" }, cluster = "slow-headers", stripPrefix = true });
        await fixture.PutAsync("/v1/tenants/errors/routes/small", new { match = new { pathPrefix = "/small" }, cluster = "httpbin", stripPrefix = true, maxRequestBodyBytes = 1024 });
        await fixture.ServedAsync(await fixture.PutAsync("/v1/tenants/errors/routes/limited", new
        {
            match = new { pathPrefix = "/limited" },
            cluster = "httpbin",
            stripPrefix = true,
            // One token every 20 s: the third request finds the bucket empty however slowly the first two went.
            rateLimit = new { requestsPerSecond = 0.05, burst = 2, key = "header:X-Client" },
        }));
        (await Worker.WaitForStatusAsync("errors.test", "/slow/get", 200)).Dispose();

        using (var response = await Worker.GetAsync("unknown.test", "/anything"))
        {
            var body = await ProxyProblem.AssertAsync(response, 404, "unknown-host");
            Assert.False(body.TryGetProperty("route", out _));
        }
        using (var response = await Worker.GetAsync("errors.test", "/anything"))
        {
            var body = await ProxyProblem.AssertAsync(response, 404, "no-route");
            Assert.False(body.TryGetProperty("route", out _));
        }
        using (var response = await Worker.GetAsync("errors.test", "/dead"))
            await ProxyProblem.AssertAsync(response, 502, "backend-unreachable", "errors/dead", "errors/dead", dead);
        using (var response = await Worker.GetAsync("errors.test", "/empty"))
            await ProxyProblem.AssertAsync(response, 503, "no-backend", "errors/empty", "errors/empty");
        // httpbin's /delay/3 outlasts the route's 1 s.
        using (var response = await Worker.GetAsync("errors.test", "/slow/delay/3"))
            await ProxyProblem.AssertAsync(response, 504, "backend-timeout", "errors/slow", "errors/httpbin", httpBin);
        // ... and the cluster's 3 s for response headers (long enough for a busy httpbin's /get below).
        using (var response = await Worker.GetAsync("errors.test", "/headers-late/delay/6"))
            await ProxyProblem.AssertAsync(response, 504, "backend-timeout", "errors/headers", "errors/slow-headers", httpBin);
        using (var response = await Worker.GetAsync("errors.test", "/headers-late/get"))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // Too large, whether declared up front or found while streaming a chunked body.
        using (var response = await Worker.SendAsync(HttpMethod.Post, "errors.test", "/small/post", new ByteArrayContent(new byte[2048])))
            await ProxyProblem.AssertAsync(response, 413, "body-too-large", "errors/small", "errors/httpbin", httpBin);
        using (var chunked = WorkerRequests.Request(HttpMethod.Post, "errors.test", "/small/post", new StreamContent(new MemoryStream(new byte[2048]))))
        {
            chunked.Headers.TransferEncodingChunked = true;
            using var response = await Worker.Client.SendAsync(chunked);
            await ProxyProblem.AssertAsync(response, 413, "body-too-large", "errors/small", "errors/httpbin", httpBin);
        }
        using (var response = await Worker.SendAsync(HttpMethod.Post, "errors.test", "/small/post", new ByteArrayContent(new byte[512])))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // Two at once, then one every 20 s per client.
        for (var i = 0; i < 2; i++)
        {
            using var response = await LimitedAsync("a");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using (var response = await LimitedAsync("a"))
        {
            await ProxyProblem.AssertAsync(response, 429, "rate-limited", "errors/limited", "errors/httpbin", httpBin);
            var retryAfter = response.Headers.RetryAfter?.Delta;
            Assert.NotNull(retryAfter);
            Assert.InRange(retryAfter.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(20));
        }
        using (var response = await LimitedAsync("b"))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private Task<HttpResponseMessage> LimitedAsync(string client)
    {
        var request = WorkerRequests.Request(HttpMethod.Get, "errors.test", "/limited/get");
        request.Headers.Add("X-Client", client);
        return Worker.Client.SendAsync(request);
    }
}
