using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Forwarding;
using ProxyPlatform.DataPlane.Pipeline;
using ProxyPlatform.DataPlane.Routing;
using ProxyPlatform.DataPlane.Tests.Infrastructure;
using ProxyPlatform.Testing;
using Yarp.ReverseProxy.Forwarder;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.RequestPathParts;

namespace ProxyPlatform.DataPlane.Tests.Pipeline;

/// <summary>
/// The forwarding step with YARP's real forwarder against real backends on loopback: which
/// backends a request reaches, what the client gets, and what each backend's counters hold.
/// </summary>
public sealed class RetryingForwardTests
{
    private static readonly IHttpForwarder Forwarder = new ServiceCollection().AddLogging().AddHttpForwarder().BuildServiceProvider().GetRequiredService<IHttpForwarder>();
    private static readonly ForwardedValues Client = new("127.0.0.1", "http", "acme.test", "127.0.0.1");

    private readonly RecordingLogger<ProxyHandler> _log = new();
    /// <summary>This test's name in <c>Via</c>: its backends count only its own requests, whatever else finds their ports.</summary>
    private readonly string _instance = $"pp-test-{Guid.NewGuid():N}";

    private RetryingForward Forward() =>
        new(new ForwardAttempt(Forwarder, new ProxyTransformer(new ProxyOptions { InstanceName = _instance }), _log), _log, NullLoggerFactory.Instance);

    private async Task<DefaultHttpContext> SendAsync(CompiledRoute route, string method = "GET", byte[]? body = null, Action<HttpRequest>? prepare = null)
    {
        var context = Request(method, "/", body);
        prepare?.Invoke(context.Request);
        await Forward().SendAsync(context, route, new Admission(route.Cluster.Current!, Client));
        return context;
    }

    /// <summary>
    /// A real backend on loopback running <paramref name="handler"/> for this test's requests. Other
    /// processes on the machine may send to a port they believe free (a "dead" backend of theirs):
    /// such requests get 421 and are not counted.
    /// </summary>
    private async Task<Backend> BackendAsync(string name, RequestDelegate handler)
    {
        var backend = new Backend();
        backend.Server = await ScriptedBackend.StartAsync(name, context =>
        {
            if (!context.Request.Headers.Via.ToString().Contains(_instance, StringComparison.Ordinal))
            {
                context.Response.StatusCode = StatusCodes.Status421MisdirectedRequest;
                return Task.CompletedTask;
            }
            Interlocked.Increment(ref backend.Received);
            return handler(context);
        });
        return backend;
    }

    private Task<Backend> AnsweringAsync(string name, int status) =>
        BackendAsync(name, async context =>
        {
            context.Response.StatusCode = status;
            await context.Response.WriteAsync(name);
        });

    /// <summary>A backend that sends nothing until the request is abandoned.</summary>
    private Task<Backend> HangingAsync(string name) =>
        BackendAsync(name, context => Task.Delay(Timeout.Infinite, context.RequestAborted));

    private static ClusterSpec RoundRobin(RetrySpec? retry = null, CircuitBreakerSpec? breaker = null, TimeoutsSpec? timeouts = null) =>
        new() { LoadBalancing = LoadBalancingPolicies.RoundRobin, Retry = retry, CircuitBreaker = breaker, Timeouts = timeouts };

    [Fact]
    public async Task A_GET_whose_backend_answers_a_retried_status_is_answered_by_the_next_backend_and_both_attempts_are_counted()
    {
        await using var failing = await AnsweringAsync("failing", 503);
        await using var healthy = await AnsweringAsync("healthy", 200);
        var cluster = Cluster(RoundRobin(new RetrySpec { MaxAttempts = 2, RetryOn = ["503"] }), ("a", failing.Address), ("b", healthy.Address));
        var route = Route(cluster);

        for (var i = 0; i < 4; i++)
        {
            var context = await SendAsync(route);
            Assert.Equal(200, context.Response.StatusCode);
            Assert.Equal("healthy", ResponseText(context));
        }

        Assert.Equal(4, healthy.Requests);
        Assert.Equal(failing.Requests, cluster.Backends[0].Traffic!.Read().RequestsByClass[4]);
        Assert.True(failing.Requests >= 2, $"round robin sent {failing.Requests} of 4 first attempts to the failing backend");
        var passedOn = cluster.Backends[1].Traffic!.Read();
        Assert.Equal(4, passedOn.RequestsByClass[1]);
        Assert.Equal(4 * "healthy".Length, passedOn.BytesOut);
        Assert.Equal(0, cluster.Backends[0].Traffic!.Read().BytesOut);
        Assert.Contains(_log.Lines, line => line.Level == LogLevel.Information
            && line.Message == "Retrying GET / of route acme/api after status 503 from backend a (attempt 2 of 2)");
    }

    [Fact]
    public async Task A_POST_reaches_one_backend_at_most_and_gets_that_backend_s_own_answer()
    {
        await using var failing = await AnsweringAsync("failing", 503);
        await using var healthy = await AnsweringAsync("healthy", 200);
        var cluster = Cluster(RoundRobin(new RetrySpec { MaxAttempts = 2, RetryOn = ["503"] }), ("a", failing.Address), ("b", healthy.Address));

        var statuses = new List<int>();
        for (var i = 0; i < 4; i++)
            statuses.Add((await SendAsync(Route(cluster), "POST", Encoding.UTF8.GetBytes("{}"))).Response.StatusCode);

        Assert.Equal(4, failing.Requests + healthy.Requests);
        Assert.Equal(failing.Requests, statuses.Count(s => s == 503));
        Assert.True(failing.Requests > 0);
    }

    [Fact]
    public async Task Without_a_retry_policy_a_connect_failure_is_retried_for_GET_and_a_POST_gets_502_backend_unreachable()
    {
        await using var live = await AnsweringAsync("live", 200);
        var cluster = Cluster(RoundRobin(), ("a", $"http://127.0.0.1:{ReservedPorts.Take()}"), ("b", live.Address));

        for (var i = 0; i < 4; i++)
            Assert.Equal("live", ResponseText(await SendAsync(Route(cluster))));

        var refused = 0;
        for (var i = 0; i < 4; i++)
        {
            var context = await SendAsync(Route(cluster), "POST", [1]);
            if (context.Response.StatusCode == 200)
                continue;
            refused++;
            Assert.Equal((502, "backend-unreachable"), (context.Response.StatusCode, ProblemType(context)));
        }
        Assert.True(refused > 0, "no POST was sent to the dead backend");
        Assert.Equal(4 + 4 - refused, live.Requests);
    }

    [Fact]
    public async Task MaxAttempts_bounds_the_backends_one_request_tries_and_the_last_answer_is_passed_on()
    {
        await using var one = await AnsweringAsync("one", 503);
        await using var two = await AnsweringAsync("two", 503);
        await using var three = await AnsweringAsync("three", 503);
        var cluster = Cluster(RoundRobin(new RetrySpec { MaxAttempts = 2, RetryOn = ["503"] }), ("a", one.Address), ("b", two.Address), ("c", three.Address));

        var context = await SendAsync(Route(cluster));

        Assert.Equal(503, context.Response.StatusCode);
        Assert.DoesNotContain("problem", context.Response.ContentType ?? "", StringComparison.Ordinal);
        Assert.Equal(2, one.Requests + two.Requests + three.Requests);
        Assert.Equal(2, cluster.Backends.Sum(b => b.Traffic!.Read().RequestsByClass[4]));
    }

    [Fact]
    public async Task A_PUT_body_is_kept_and_sent_whole_to_the_next_backend_but_one_over_the_buffer_is_sent_once()
    {
        var received = new List<string>();
        async Task Record(HttpContext context, int status)
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            lock (received)
                received.Add(body);
            context.Response.StatusCode = status;
        }
        await using var failing = await BackendAsync("failing", context => Record(context, 503));
        await using var healthy = await BackendAsync("healthy", context => Record(context, 200));
        var cluster = Cluster(RoundRobin(new RetrySpec { MaxAttempts = 2, RetryOn = ["503"], MaxBufferedBodyBytes = 20_000 }), ("a", failing.Address), ("b", healthy.Address));
        var payload = new string('x', 10_000);

        for (var i = 0; i < 2; i++)
            Assert.Equal(200, (await SendAsync(Route(cluster), "PUT", Encoding.UTF8.GetBytes(payload))).Response.StatusCode);
        // The failing backend consumed a body first at least once, and the healthy one still got it whole.
        Assert.True(failing.Requests > 0, "round robin sent no PUT to the failing backend first");
        Assert.Equal(2, healthy.Requests);
        Assert.Equal(2 + failing.Requests, received.Count);
        Assert.All(received, body => Assert.Equal(payload, body));

        received.Clear();
        var failedBefore = failing.Requests;
        var large = new string('y', 30_000);
        var statuses = new List<int>();
        for (var i = 0; i < 2; i++)
            statuses.Add((await SendAsync(Route(cluster), "PUT", Encoding.UTF8.GetBytes(large))).Response.StatusCode);
        // Too large to keep: streamed to one backend, whose answer is final.
        Assert.Equal(2, received.Count);
        Assert.Equal(failing.Requests - failedBefore, statuses.Count(status => status == 503));
        Assert.All(received, body => Assert.Equal(large, body));
    }

    [Fact]
    public async Task When_every_circuit_is_open_the_answer_is_503_circuit_open_and_no_backend_is_contacted()
    {
        await using var broken = await AnsweringAsync("broken", 500);
        var cluster = Cluster(RoundRobin(new RetrySpec { MaxAttempts = 1, RetryOn = [] }, new CircuitBreakerSpec { ConsecutiveFailures = 2, OpenSeconds = 600 }), ("a", broken.Address));

        Assert.Equal(500, (await SendAsync(Route(cluster))).Response.StatusCode);
        Assert.Equal(500, (await SendAsync(Route(cluster))).Response.StatusCode);
        var open = await SendAsync(Route(cluster));

        Assert.Equal((503, "circuit-open"), (open.Response.StatusCode, ProblemType(open)));
        Assert.Equal(2, broken.Requests);
        var opened = Assert.Single(_log.Lines, line => line.Level == LogLevel.Warning);
        Assert.Equal("Circuit of backend a of cluster acme/web opened after status 500", opened.Message);
        Assert.IsType<ProxyExchange>(opened.Scope);
    }

    [Fact]
    public async Task With_the_retry_budget_spent_a_dropped_answer_becomes_502_backend_error_and_is_not_retried()
    {
        await using var failing = await AnsweringAsync("failing", 503);
        await using var healthy = await AnsweringAsync("healthy", 200);
        var cluster = Cluster(RoundRobin(new RetrySpec { MaxAttempts = 2, RetryOn = ["503"] }), ("a", failing.Address), ("b", healthy.Address));
        for (var i = 0; i < 3; i++)
            Assert.True(cluster.Budget.TryStartRetry());

        DefaultHttpContext context;
        do
            context = await SendAsync(Route(cluster));
        while (failing.Requests == 0);

        Assert.Equal((502, "backend-error"), (context.Response.StatusCode, ProblemType(context)));
        Assert.Contains("answered 503", ResponseText(context), StringComparison.Ordinal);
        Assert.Equal(0, cluster.Budget.Active);
    }

    [Fact]
    public async Task The_route_s_time_out_answers_504_backend_timeout()
    {
        await using var hanging = await HangingAsync("hanging");
        var cluster = Cluster(RoundRobin(new RetrySpec { MaxAttempts = 2, RetryOn = ["timeout"] }), ("a", hanging.Address));

        var context = await SendAsync(Route(cluster, timeout: TimeSpan.FromMilliseconds(300)));

        Assert.Equal((504, "backend-timeout"), (context.Response.StatusCode, ProblemType(context)));
        Assert.Equal("The backend did not answer before the route's time-out.", ProblemDetail(context));
        Assert.Equal(1, hanging.Requests);
        Assert.Equal(1, cluster.Backends[0].Traffic!.Read().RequestsByClass[4]);
    }

    [Fact]
    public async Task A_backend_late_with_its_headers_is_cut_at_the_cluster_s_time_out_and_the_request_retried_on_timeout()
    {
        await using var hanging = await HangingAsync("hanging");
        await using var healthy = await AnsweringAsync("healthy", 200);
        // Long enough that the healthy backend answers within it on a busy machine.
        var timeouts = new TimeoutsSpec { ResponseHeadersSeconds = 5, IdleSeconds = 30 };
        var retried = Cluster(RoundRobin(new RetrySpec { MaxAttempts = 2, RetryOn = ["timeout"] }, timeouts: timeouts), ("a", hanging.Address), ("b", healthy.Address));

        for (var i = 0; i < 2; i++)
            Assert.Equal("healthy", ResponseText(await SendAsync(Route(retried))));
        Assert.Contains(_log.Lines, line => line.Message.StartsWith("Retrying GET / of route acme/api after time-out from backend a", StringComparison.Ordinal));

        var alone = Cluster(RoundRobin(new RetrySpec { MaxAttempts = 2, RetryOn = ["timeout"] }, timeouts: timeouts), ("a", hanging.Address));
        var context = await SendAsync(Route(alone));
        Assert.Equal((504, "backend-timeout"), (context.Response.StatusCode, ProblemType(context)));
        Assert.Equal("The backend did not send its response headers before the cluster's time-out.", ProblemDetail(context));
    }

    [Fact]
    public async Task A_client_with_an_affinity_key_stays_on_its_backend_and_one_without_is_given_the_key()
    {
        await using var a = await AnsweringAsync("a", 200);
        await using var b = await AnsweringAsync("b", 200);
        var cluster = Cluster(new ClusterSpec { LoadBalancing = LoadBalancingPolicies.RoundRobin, SessionAffinity = new SessionAffinitySpec { Mode = "header", Name = "X-Sticky" } },
            ("a", a.Address), ("b", b.Address));

        var first = await SendAsync(Route(cluster));
        var key = first.Response.Headers["X-Sticky"].ToString();
        Assert.NotEmpty(key);
        for (var i = 0; i < 4; i++)
        {
            var again = await SendAsync(Route(cluster), prepare: request => request.Headers["X-Sticky"] = key);
            Assert.Equal(ResponseText(first), ResponseText(again));
            Assert.False(again.Response.Headers.ContainsKey("X-Sticky"));
        }
    }

    private sealed class Backend : IAsyncDisposable
    {
        public int Received;
        public ScriptedBackend Server { get; set; } = null!;
        public string Address => Server.Address;
        /// <summary>The requests of this test that reached the backend.</summary>
        public int Requests => Volatile.Read(ref Received);

        public ValueTask DisposeAsync() => Server.DisposeAsync();
    }
}
