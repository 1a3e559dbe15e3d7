using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Forwarding;
using ProxyPlatform.DataPlane.Pipeline;
using ProxyPlatform.DataPlane.RateLimiting;
using ProxyPlatform.DataPlane.Routing;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.RequestPathParts;

namespace ProxyPlatform.DataPlane.Tests.Pipeline;

public sealed class RequestGuardsTests
{
    private static readonly ClusterRuntime Web = Cluster(null, ("a", "http://127.0.0.1:9"));
    private static readonly RequestGuards Guards = new(new ProxyOptions { InstanceName = "pp-test", MaxHops = 3 });

    private static async Task<(int Status, string Type)> RefusedAsync(RequestGuards guards, DefaultHttpContext context, CompiledRoute route)
    {
        Assert.Null(guards.Admit(context, route, out var refusal));
        await refusal.WriteAsync(context, route);
        return (context.Response.StatusCode, ProblemType(context));
    }

    [Theory]
    [InlineData("1.1 pp-test")]
    [InlineData("1.0 edge, 2 PP-TEST (worker)")]
    public async Task A_request_that_passed_through_this_worker_is_refused_508(string via)
    {
        var context = Request();
        context.Request.Headers.Via = via;

        Assert.Equal((508, "loop-detected"), await RefusedAsync(Guards, context, Route(Web)));
    }

    [Fact]
    public async Task A_request_with_as_many_hops_as_allowed_is_refused_508_before_its_body_is_judged()
    {
        var context = Request("POST", body: new byte[100]);
        context.Request.Headers[LoopDetection.HopsHeader] = "3";

        Assert.Equal((508, "loop-detected"), await RefusedAsync(Guards, context, Route(Web, maxRequestBodyBytes: 10)));

        var fewer = Request();
        fewer.Request.Headers[LoopDetection.HopsHeader] = "2";
        Assert.NotNull(Guards.Admit(fewer, Route(Web), out _));
    }

    [Fact]
    public async Task A_declared_body_over_the_route_limit_is_refused_413_without_taking_a_rate_token()
    {
        var route = Route(Web, maxRequestBodyBytes: 1024, rateLimit: new TokenBucketLimiter(0.001, 1, header: null));
        var context = Request("POST", body: new byte[1025]);

        Assert.Equal((413, "body-too-large"), await RefusedAsync(Guards, context, route));
        Assert.Contains("(1024 bytes)", ResponseText(context), StringComparison.Ordinal);

        Assert.NotNull(Guards.Admit(Request("POST", body: new byte[1024]), route, out _));
    }

    [Fact]
    public void A_body_without_a_length_is_held_to_the_route_limit_as_it_is_read()
    {
        var context = Request("POST", body: new byte[10], chunked: true);
        var limit = new BodySizeLimit();
        context.Features.Set<IHttpMaxRequestBodySizeFeature>(limit);

        Assert.NotNull(Guards.Admit(context, Route(Web, maxRequestBodyBytes: 4096), out _));
        Assert.Equal(4096, limit.MaxRequestBodySize);

        var unlimited = new BodySizeLimit();
        var other = Request("POST", body: new byte[10], chunked: true);
        other.Features.Set<IHttpMaxRequestBodySizeFeature>(unlimited);
        Assert.NotNull(Guards.Admit(other, Route(Web), out _));
        Assert.Equal(BodySizeLimit.ServerDefault, unlimited.MaxRequestBodySize);
    }

    [Fact]
    public async Task A_client_over_the_rate_of_a_header_keyed_limit_is_refused_429_with_Retry_After_and_others_are_not()
    {
        var route = Route(Web, rateLimit: new TokenBucketLimiter(0.5, 2, header: "X-Client"));

        Assert.NotNull(Guards.Admit(Client("a"), route, out _));
        Assert.NotNull(Guards.Admit(Client("a"), route, out _));
        var third = Client("a");
        Assert.Equal((429, "rate-limited"), await RefusedAsync(Guards, third, route));
        Assert.InRange(int.Parse(third.Response.Headers.RetryAfter.ToString(), System.Globalization.CultureInfo.InvariantCulture), 1, 2);
        Assert.Contains("0.5 requests per second (burst 2)", ResponseText(third), StringComparison.Ordinal);

        Assert.NotNull(Guards.Admit(Client("b"), route, out _));

        static DefaultHttpContext Client(string name)
        {
            var context = Request();
            context.Request.Headers["X-Client"] = name;
            return context;
        }
    }

    [Fact]
    public async Task An_address_keyed_limit_counts_the_client_a_trusted_proxy_names_not_the_proxy()
    {
        var guards = new RequestGuards(new ProxyOptions { InstanceName = "pp-test", TrustedProxies = [IPNetwork.Parse("127.0.0.0/8")] });
        var route = Route(Web, rateLimit: new TokenBucketLimiter(0.001, 1, header: null));

        var first = guards.Admit(Behind("203.0.113.7"), route, out _);
        Assert.Equal("203.0.113.7", first?.Forwarded.RealIp);
        Assert.Equal((429, "rate-limited"), await RefusedAsync(guards, Behind("203.0.113.7"), route));
        Assert.NotNull(guards.Admit(Behind("203.0.113.8"), route, out _));

        static DefaultHttpContext Behind(string client)
        {
            var context = Request();
            context.Request.Headers[ForwardedHeaders.For] = client;
            return context;
        }
    }

    [Fact]
    public async Task A_route_whose_cluster_is_gone_or_empty_is_refused_503_no_backend_with_Retry_After()
    {
        var gone = Request();
        Assert.Equal((503, "no-backend"), await RefusedAsync(Guards, gone, Route(null)));
        Assert.Equal("1", gone.Response.Headers.RetryAfter);
        Assert.Contains("no enabled backend", ResponseText(gone), StringComparison.Ordinal);

        var empty = Request();
        Assert.Equal((503, "no-backend"), await RefusedAsync(Guards, empty, Route(Cluster(null))));
    }

    [Fact]
    public async Task A_cluster_whose_every_backend_is_Unhealthy_is_refused_503_saying_so()
    {
        var unhealthy = ClusterRuntime.Build(ClusterId,
            new ClusterDefinition { Spec = new ClusterSpec { HealthCheck = new HealthCheckSpec() }, Backends = new Dictionary<string, BackendSpec> { ["a"] = new() { Address = "http://127.0.0.1:9" } } },
            new ClusterHealthSpec { Backends = new Dictionary<string, BackendVerdictSpec> { ["a"] = new() { Verdict = HealthVerdicts.Unhealthy, Since = DateTimeOffset.UtcNow } } },
            null);
        var context = Request();

        Assert.Equal((503, "no-backend"), await RefusedAsync(Guards, context, Route(unhealthy)));
        Assert.Contains("verdict Unhealthy", ResponseText(context), StringComparison.Ordinal);
    }

    [Fact]
    public void An_admitted_request_goes_to_the_cluster_served_now_as_from_the_peer_it_came_from()
    {
        var context = Request();
        context.Request.Headers[ForwardedHeaders.For] = "203.0.113.7";

        var admitted = Guards.Admit(context, Route(Web), out _);

        Assert.NotNull(admitted);
        Assert.Same(Web, admitted.Value.Cluster);
        // Not a trusted proxy: what the client claims is replaced by what the worker sees.
        Assert.Equal(new ForwardedValues("127.0.0.1", "http", "acme.test", "127.0.0.1"), admitted.Value.Forwarded);
        Assert.Equal(200, context.Response.StatusCode);
    }

    private sealed class BodySizeLimit : IHttpMaxRequestBodySizeFeature
    {
        public const long ServerDefault = 30_000_000;
        public bool IsReadOnly => false;
        public long? MaxRequestBodySize { get; set; } = ServerDefault;
    }
}
