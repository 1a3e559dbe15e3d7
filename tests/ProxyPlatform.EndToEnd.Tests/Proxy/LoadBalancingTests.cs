using System.Net;
using System.Text.Json;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Proxy;

[Collection(ProxyCollection.Name)]
public sealed class LoadBalancingTests(ProxyFixture fixture)
{
    private Worker Worker => fixture.Edge;

    [Fact]
    public async Task Weighted_round_robin_5_1_1_spreads_700_requests_exactly_500_100_100()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await using var c = await TestBackend.StartAsync("c");
        await fixture.ServiceAsync("lb-weighted", "weighted.test", new { loadBalancing = "WeightedRoundRobin" },
            ("a", a.Address, 5), ("b", b.Address, 1), ("c", c.Address, 1));
        (await Worker.WaitForStatusAsync("weighted.test", "/", 200)).Dispose();

        var before = (a.Requests, b.Requests, c.Requests);
        // Smooth weighted round robin repeats with a period of 7, so any 700 consecutive choices hold exactly 100 periods.
        await Parallel.ForAsync(0, 700, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (_, _) =>
        {
            using var response = await Worker.GetAsync("weighted.test", "/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        });

        Assert.Equal((500, 100, 100), (a.Requests - before.Item1, b.Requests - before.Item2, c.Requests - before.Item3));
    }

    [Theory]
    [InlineData("LeastRequests")]
    [InlineData("PowerOfTwoChoices")]
    [InlineData("Random")]
    public async Task Every_policy_reaches_every_backend(string policy)
    {
        var tenant = $"lb-{policy.ToLowerInvariant()}";
        var host = $"{tenant}.test";
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await using var c = await TestBackend.StartAsync("c");
        await fixture.ServiceAsync(tenant, host, new { loadBalancing = policy }, ("a", a.Address, 1), ("b", b.Address, 1), ("c", c.Address, 1));
        (await Worker.WaitForStatusAsync(host, "/", 200)).Dispose();

        var seen = new HashSet<string>();
        for (var i = 0; i < 60 && seen.Count < 3; i++)
            seen.Add((await Worker.EchoAsync(host, "/")).Backend);

        Assert.Equal(["a", "b", "c"], seen.Order());
    }

    [Fact]
    public async Task Session_affinity_by_cookie_keeps_a_client_on_one_backend()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await fixture.ServiceAsync("lb-cookie", "cookie.test", new { loadBalancing = "RoundRobin", sessionAffinity = new { mode = "cookie", name = "pp-sticky" } },
            ("a", a.Address, 1), ("b", b.Address, 1));
        (await Worker.WaitForStatusAsync("cookie.test", "/", 200)).Dispose();

        // A client of its own that keeps no cookies: the test decides which cookie each request carries.
        using var client = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = new Uri(Worker.ProxyUrl) };
        string cookie;
        string first;
        using (var response = await client.SendAsync(WorkerRequests.Request(HttpMethod.Get, "cookie.test", "/")))
        {
            first = Echo(await response.Content.ReadAsStringAsync()).Backend;
            var setCookie = response.Headers.GetValues("Set-Cookie").Single();
            Assert.StartsWith("pp-sticky=", setCookie, StringComparison.Ordinal);
            Assert.Contains("HttpOnly", setCookie, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(a.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), setCookie, StringComparison.Ordinal);
            Assert.DoesNotContain(b.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), setCookie, StringComparison.Ordinal);
            cookie = setCookie.Split(';')[0];
        }

        for (var i = 0; i < 10; i++)
        {
            using var request = WorkerRequests.Request(HttpMethod.Get, "cookie.test", "/");
            request.Headers.Add("Cookie", cookie);
            using var response = await client.SendAsync(request);
            Assert.Equal(first, Echo(await response.Content.ReadAsStringAsync()).Backend);
            // The client already holds the right key: nothing to set again.
            Assert.False(response.Headers.Contains("Set-Cookie"));
        }
        // A client without the cookie is still balanced over both.
        var anonymous = new HashSet<string>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await client.SendAsync(WorkerRequests.Request(HttpMethod.Get, "cookie.test", "/"));
            anonymous.Add(Echo(await response.Content.ReadAsStringAsync()).Backend);
        }
        Assert.Equal(2, anonymous.Count);
    }

    [Fact]
    public async Task Session_affinity_by_header_keeps_a_client_on_one_backend()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await fixture.ServiceAsync("lb-header", "sticky-header.test", new { loadBalancing = "RoundRobin", sessionAffinity = new { mode = "header", name = "X-Sticky" } },
            ("a", a.Address, 1), ("b", b.Address, 1));
        (await Worker.WaitForStatusAsync("sticky-header.test", "/", 200)).Dispose();

        string key;
        string first;
        using (var response = await Worker.GetAsync("sticky-header.test", "/"))
        {
            first = Echo(await response.Content.ReadAsStringAsync()).Backend;
            key = response.Headers.GetValues("X-Sticky").Single();
        }

        for (var i = 0; i < 10; i++)
        {
            using var request = WorkerRequests.Request(HttpMethod.Get, "sticky-header.test", "/");
            request.Headers.Add("X-Sticky", key);
            using var response = await Worker.Client.SendAsync(request);
            Assert.Equal(first, Echo(await response.Content.ReadAsStringAsync()).Backend);
        }
    }

    private static BackendEcho Echo(string json) => JsonSerializer.Deserialize<BackendEcho>(json, JsonSerializerOptions.Web)!;
}
