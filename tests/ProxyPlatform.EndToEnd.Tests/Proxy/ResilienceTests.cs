using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Proxy;

[Collection(ProxyCollection.Name)]
public sealed class ResilienceTests(ProxyFixture fixture)
{
    private Worker Worker => fixture.Edge;

    [Fact]
    public async Task Connect_failure_is_retried_for_GET_but_a_POST_gets_502_and_reaches_a_backend_at_most_once()
    {
        await using var live = await TestBackend.StartAsync("live");
        // Reserved and never bound: nothing listens there.
        var deadPort = ReservedPorts.Take();
        await fixture.ServiceAsync("retry-dead", "retry-dead.test", new { loadBalancing = "RoundRobin", retry = new { maxAttempts = 2, retryOn = new[] { "connect-failure" } } },
            ("dead", $"http://127.0.0.1:{deadPort}", 1), ("live", live.Address, 1));
        (await Worker.WaitForStatusAsync("retry-dead.test", "/", 200)).Dispose();

        for (var i = 0; i < 10; i++)
            Assert.Equal("live", (await Worker.EchoAsync("retry-dead.test", "/get")).Backend);

        var before = live.Requests;
        int ok = 0, failed = 0;
        for (var i = 0; i < 10; i++)
        {
            using var response = await Worker.SendAsync(HttpMethod.Post, "retry-dead.test", "/post", new StringContent("{\"n\":1}"));
            if (response.StatusCode == HttpStatusCode.OK)
            {
                ok++;
                continue;
            }
            failed++;
            await ProxyProblem.AssertAsync(response, 502, "backend-unreachable", "retry-dead/main", "retry-dead/web",
                $"127.0.0.1:{deadPort}", deadPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        // Round robin sends every other POST to the dead backend, and none of those is repeated on the live one.
        Assert.True(failed > 0, "no POST was sent to the dead backend");
        Assert.Equal(ok, live.Requests - before);
    }

    [Fact]
    public async Task A_503_is_retried_on_the_other_backend_for_GET_but_not_for_POST()
    {
        await using var live = await TestBackend.StartAsync("live");
        await fixture.ServiceAsync("retry-503", "retry-503.test", new { loadBalancing = "RoundRobin", retry = new { maxAttempts = 2, retryOn = new[] { "503" } } },
            ("httpbin", fixture.HttpBin.Address, 1), ("live", live.Address, 1));
        (await Worker.WaitForStatusAsync("retry-503.test", "/status/503", 200)).Dispose();

        var before = live.Requests;
        for (var i = 0; i < 6; i++)
            Assert.Equal("live", (await Worker.EchoAsync("retry-503.test", "/status/503")).Backend);
        Assert.Equal(6, live.Requests - before);

        before = live.Requests;
        int ok = 0, unavailable = 0;
        for (var i = 0; i < 6; i++)
        {
            using var response = await Worker.SendAsync(HttpMethod.Post, "retry-503.test", "/status/503", new StringContent("x"));
            if (response.StatusCode == HttpStatusCode.OK)
                ok++;
            else if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                unavailable++;
            else
                Assert.Fail($"POST answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        // httpbin's 503 reaches the client as it is; the POST was not sent again to the live backend.
        Assert.True(unavailable > 0, "no POST was sent to httpbin");
        Assert.Equal(ok, live.Requests - before);
    }

    [Fact]
    public async Task A_retried_PUT_sends_its_whole_body_again_to_the_next_backend()
    {
        var received = new List<string>();
        await using var unavailable = await ScriptedBackend.StartAsync("unavailable", async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            if (HttpMethods.IsPut(context.Request.Method))
            {
                lock (received)
                    received.Add(body);
            }
            context.Response.StatusCode = 503;
        });
        await fixture.ServiceAsync("retry-body", "retry-body.test", new { loadBalancing = "RoundRobin", retry = new { maxAttempts = 2, retryOn = new[] { "503" } } },
            ("a-unavailable", unavailable.Address, 1), ("httpbin", fixture.HttpBin.Address, 1));
        (await Worker.WaitForStatusAsync("retry-body.test", "/get", 200)).Dispose();

        for (var i = 0; i < 4; i++)
        {
            var payload = $"{{\"n\":{i},\"text\":\"{new string('x', 10_000)}\"}}";
            using var response = await Worker.SendAsync(HttpMethod.Put, "retry-body.test", "/put", new StringContent(payload, System.Text.Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
            // httpbin echoes the body it got: the one the first backend consumed, sent again from its start.
            Assert.Equal(payload, JsonDocument.Parse(text).RootElement.GetProperty("data").GetString());
        }
        lock (received)
        {
            // Round robin sent some PUTs to the unavailable backend first, and it got their whole bodies.
            Assert.NotEmpty(received);
            Assert.All(received, body => Assert.EndsWith("\"}", body, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task MaxAttempts_bounds_how_many_backends_one_request_tries()
    {
        await using var one = await ScriptedBackend.StartAsync("one", Unavailable);
        await using var two = await ScriptedBackend.StartAsync("two", Unavailable);
        await using var three = await ScriptedBackend.StartAsync("three", Unavailable);
        await fixture.TenantAsync("retry-max", "retry-max.test");
        var backends = new[] { ("one", one.Address, 1), ("two", two.Address, 1), ("three", three.Address, 1) };
        await fixture.ClusterAsync("retry-max", "two", new { retry = new { maxAttempts = 2, retryOn = new[] { "503" } } }, backends);
        await fixture.ClusterAsync("retry-max", "three", new { retry = new { maxAttempts = 3, retryOn = new[] { "503" } } }, backends);
        await fixture.PutAsync("/v1/tenants/retry-max/routes/two", new { match = new { pathPrefix = "/two" }, cluster = "two" });
        await fixture.ServedAsync(await fixture.PutAsync("/v1/tenants/retry-max/routes/three", new { match = new { pathPrefix = "/three" }, cluster = "three" }));
        (await Worker.WaitForStatusAsync("retry-max.test", "/three", 503)).Dispose();

        Assert.Equal(2, await AttemptsAsync("/two"));
        Assert.Equal(3, await AttemptsAsync("/three"));
        Assert.Equal(2, await AttemptsAsync("/two"));

        async Task<int> AttemptsAsync(string path)
        {
            var before = one.Requests + two.Requests + three.Requests;
            using var response = await Worker.GetAsync("retry-max.test", path);
            // The last attempt's answer is the backend's own.
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("unavailable", await response.Content.ReadAsStringAsync());
            return one.Requests + two.Requests + three.Requests - before;
        }

        static Task Unavailable(HttpContext context)
        {
            context.Response.StatusCode = 503;
            return context.Response.WriteAsync("unavailable");
        }
    }

    [Fact]
    public async Task Circuit_opens_after_consecutive_failures_lets_one_probe_through_and_closes_when_the_backend_recovers()
    {
        var broken = false;
        // While the test sets a gate, flaky holds every request it receives until the gate opens: a
        // probe held there keeps the circuit half-open for as long as the test looks at it, however
        // slowly the machine runs, and any other request that reached flaky would be caught held.
        TaskCompletionSource? gate = null;
        var held = 0;
        await using var flaky = await ScriptedBackend.StartAsync("flaky", async context =>
        {
            if (Volatile.Read(ref gate) is { } closed)
            {
                Interlocked.Increment(ref held);
                await closed.Task;
            }
            context.Response.StatusCode = Volatile.Read(ref broken) ? 500 : 200;
            await context.Response.WriteAsync("flaky");
        });
        await using var steady = await TestBackend.StartAsync("steady");
        await fixture.ServiceAsync("breaker", "breaker.test", new
        {
            loadBalancing = "RoundRobin",
            retry = new { maxAttempts = 1, retryOn = Array.Empty<string>() },
            circuitBreaker = new { consecutiveFailures = 3, openSeconds = 1 },
        }, ("flaky", flaky.Address, 1), ("steady", steady.Address, 1));
        (await Worker.WaitForStatusAsync("breaker.test", "/", 200)).Dispose();
        Volatile.Write(ref broken, true);

        // Round robin alternates: three failures of flaky within a few requests open its circuit.
        var failures = 0;
        for (var i = 0; i < 10 && failures < 3; i++)
        {
            using var response = await Worker.GetAsync("breaker.test", "/");
            if (response.StatusCode == HttpStatusCode.InternalServerError)
                failures++;
        }
        Assert.Equal(3, failures);
        var atOpen = flaky.Requests;
        Volatile.Write(ref gate, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        try
        {
            // Open time over: one request goes to flaky as the probe. While it is in flight nothing else
            // does (were the circuit closed, round robin would send every other request there).
            var probe = await ProbeAsync();
            await AllGoToSteadyAsync();
            Assert.Equal(atOpen + 1, flaky.Requests);

            // Still broken: the probe fails, and the circuit opens again for the whole open time, so
            // the next request flaky sees is again a lone probe.
            Release(closeNext: true);
            using (var failed = await probe)
                Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
            probe = await ProbeAsync();
            await AllGoToSteadyAsync();
            Assert.Equal(atOpen + 2, flaky.Requests);

            // Fixed: the probe succeeds, the circuit closes and traffic is shared again.
            Volatile.Write(ref broken, false);
            Release(closeNext: false);
            using (var succeeded = await probe)
                Assert.Equal("flaky", await succeeded.Content.ReadAsStringAsync());
            var seen = new List<string>();
            for (var i = 0; i < 10; i++)
                seen.Add(await BackendOfAsync());
            Assert.True(seen.Count(s => s == "flaky") >= 4, string.Join(",", seen));
        }
        finally
        {
            // A failed assertion may leave a request held at flaky: let it end with the test.
            Volatile.Read(ref gate)?.TrySetResult();
        }

        // Opens the gate for what flaky holds; requests after it are held by a new gate, or not at all.
        void Release(bool closeNext)
        {
            var open = Volatile.Read(ref gate)!;
            Volatile.Write(ref gate, closeNext ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : null);
            open.SetResult();
        }

        // Sends a GET and waits until steady has answered it (null) or flaky holds it (the request, still in flight).
        async Task<Task<HttpResponseMessage>?> SendAsync()
        {
            var before = Volatile.Read(ref held);
            var request = Worker.GetAsync("breaker.test", "/");
            await Eventually.Async(() => request.IsCompleted || Volatile.Read(ref held) > before, null,
                () => "a request through the worker was neither answered nor held by flaky");
            if (!request.IsCompleted)
                return request;
            using var response = await request;
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
            return null;
        }

        async Task<Task<HttpResponseMessage>> ProbeAsync() =>
            (await Eventually.Async(SendAsync, request => request is not null, null, _ => "no request reached flaky after its open time"))!;

        async Task AllGoToSteadyAsync()
        {
            for (var i = 0; i < 8; i++)
                Assert.True(await SendAsync() is null, "a request reached flaky while its probe was in flight");
        }
    }

    [Fact]
    public async Task When_every_circuit_is_open_the_worker_answers_503_circuit_open_at_once()
    {
        // Reserved and never bound: nothing listens there.
        var deadPort = ReservedPorts.Take();
        await fixture.ServiceAsync("breaker-all", "breaker-all.test", new
        {
            retry = new { maxAttempts = 1, retryOn = Array.Empty<string>() },
            circuitBreaker = new { consecutiveFailures = 2, openSeconds = 60 },
        }, ("dead", $"http://127.0.0.1:{deadPort}", 1));
        (await Worker.WaitForStatusAsync("breaker-all.test", "/", 502)).Dispose();
        using (var second = await Worker.GetAsync("breaker-all.test", "/"))
            await ProxyProblem.AssertAsync(second, 502, "backend-unreachable", "breaker-all/main", "breaker-all/web", deadPort.ToString(System.Globalization.CultureInfo.InvariantCulture));

        for (var i = 0; i < 3; i++)
        {
            using var response = await Worker.GetAsync("breaker-all.test", "/");
            await ProxyProblem.AssertAsync(response, 503, "circuit-open", "breaker-all/main", "breaker-all/web", deadPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private async Task<string> BackendOfAsync()
    {
        using var response = await Worker.GetAsync("breaker.test", "/");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return text == "flaky" ? "flaky" : JsonSerializer.Deserialize<BackendEcho>(text, JsonSerializerOptions.Web)!.Backend;
    }
}
