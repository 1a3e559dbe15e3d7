using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using Yarp.ReverseProxy.Configuration;

namespace ProxyPlatform.DataPlane.Tests.Configuration;

public sealed class ProxyConfigMapperTests
{
    private static readonly ResourceId Api = new("acme", "api");
    private static readonly TenantSpec Acme = new() { Hostnames = ["acme.test", "*.acme.test"] };

    private static RouteConfig Map(RouteSpec route, TenantSpec? tenant = null) => ProxyConfigMapper.MapRoute(Api, route, tenant ?? Acme);

    private static RouteSpec Route(string prefix = "/", bool strip = false, bool preserveHost = false) =>
        new() { Match = new RouteMatchSpec { PathPrefix = prefix }, Cluster = "web", StripPrefix = strip, PreserveHost = preserveHost };

    [Fact]
    public void Route_and_cluster_ids_are_scoped_by_tenant()
    {
        var route = Map(Route());

        Assert.Equal("acme/api", route.RouteId);
        Assert.Equal("acme/web", route.ClusterId);
        Assert.Equal("acme/web", ProxyConfigMapper.MapCluster(new ResourceId("acme", "web"), new ClusterDefinition()).ClusterId);
    }

    [Fact]
    public void Route_without_hosts_matches_its_tenants_host_names()
    {
        Assert.Equal(["acme.test", "*.acme.test"], Map(Route()).Match.Hosts);
    }

    [Fact]
    public void Route_hosts_replace_the_tenants_host_names()
    {
        var route = Route() with { Match = new RouteMatchSpec { Hosts = ["api.acme.test"] } };

        Assert.Equal(["api.acme.test"], Map(route).Match.Hosts);
    }

    [Fact]
    public void Route_of_a_tenant_without_host_names_matches_any_host()
    {
        Assert.Null(Map(Route(), new TenantSpec()).Match.Hosts);
    }

    [Theory]
    [InlineData("/", "/{**catch-all}")]
    [InlineData("/api", "/api/{**catch-all}")]
    [InlineData("/api/", "/api/{**catch-all}")]
    [InlineData("/api/v1", "/api/v1/{**catch-all}")]
    [InlineData("/caf%C3%A9", "/café/{**catch-all}")]
    [InlineData("/a%2Fb", "/a%2Fb/{**catch-all}")]
    public void Path_prefix_becomes_a_catch_all_template_on_a_segment_boundary(string prefix, string template)
    {
        Assert.Equal(template, Map(Route(prefix)).Match.Path);
    }

    [Fact]
    public void Strip_prefix_removes_the_prefix_without_its_trailing_slash()
    {
        var transforms = Map(Route("/api/", strip: true)).Transforms;

        var transform = Assert.Single(transforms!);
        Assert.Equal("/api", transform["PathRemovePrefix"]);
    }

    [Fact]
    public void Strip_prefix_of_the_root_prefix_strips_nothing()
    {
        Assert.Null(Map(Route("/", strip: true)).Transforms);
    }

    [Fact]
    public void Prefix_is_kept_unless_the_route_asks_to_strip_it()
    {
        Assert.Null(Map(Route("/api")).Transforms);
    }

    [Fact]
    public void Preserve_host_keeps_the_clients_host_and_the_default_sends_the_backends()
    {
        var preserved = Assert.Single(Map(Route(preserveHost: true)).Transforms!);
        Assert.Equal("true", preserved["RequestHeaderOriginalHost"]);
        // Not preserving is YARP's own default: no transform.
        Assert.Null(Map(Route(preserveHost: false)).Transforms);
    }

    [Fact]
    public void Methods_and_headers_become_yarp_match_criteria_with_case_insensitive_exact_values()
    {
        var route = Route() with
        {
            Match = new RouteMatchSpec
            {
                PathPrefix = "/api",
                Methods = ["GET", "POST"],
                Headers = new Dictionary<string, string> { ["x-canary"] = "1", ["x-tier"] = "Gold" },
            },
        };

        var match = Map(route).Match;

        Assert.Equal(["GET", "POST"], match.Methods);
        Assert.Collection(match.Headers!,
            h => Assert.Equal(new RouteHeader { Name = "x-canary", Values = ["1"], Mode = HeaderMatchMode.ExactHeader, IsCaseSensitive = false }, h),
            h => Assert.Equal(new RouteHeader { Name = "x-tier", Values = ["Gold"], Mode = HeaderMatchMode.ExactHeader, IsCaseSensitive = false }, h));
    }

    [Fact]
    public void Route_without_methods_or_headers_matches_any()
    {
        var match = Map(Route()).Match;

        Assert.Null(match.Methods);
        Assert.Null(match.Headers);
    }

    [Fact]
    public void Route_timeout_and_body_limit_are_passed_to_yarp_and_priority_leaves_the_order_unset()
    {
        var route = Map(Route() with { TimeoutSeconds = 2.5, MaxRequestBodyBytes = 1024, Priority = 7 });

        Assert.Equal(TimeSpan.FromSeconds(2.5), route.Timeout);
        Assert.Equal(1024, route.MaxRequestBodySize);
        Assert.Null(route.Order);
    }

    [Fact]
    public void Disabled_backends_and_backends_of_weight_zero_are_not_destinations()
    {
        var cluster = ProxyConfigMapper.MapCluster(new ResourceId("acme", "web"), new ClusterDefinition
        {
            Backends = new Dictionary<string, BackendSpec>
            {
                ["a"] = new() { Address = "http://10.0.0.1:80" },
                ["off"] = new() { Address = "http://10.0.0.2:80", Enabled = false },
                ["drained"] = new() { Address = "http://10.0.0.3:80", Weight = 0 },
                ["b"] = new() { Address = "http://10.0.0.4:80", Weight = 5 },
            },
        });

        Assert.Equal(["a", "b"], cluster.Destinations!.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("http://10.0.0.1:80", cluster.Destinations["a"].Address);
        Assert.Equal("http://10.0.0.4:80", cluster.Destinations["b"].Address);
    }

    [Theory]
    [InlineData(LoadBalancingPolicies.RoundRobin, "RoundRobin")]
    [InlineData(LoadBalancingPolicies.WeightedRoundRobin, "RoundRobin")]
    [InlineData(LoadBalancingPolicies.Random, "Random")]
    [InlineData(LoadBalancingPolicies.LeastRequests, "LeastRequests")]
    [InlineData(LoadBalancingPolicies.PowerOfTwoChoices, "PowerOfTwoChoices")]
    public void Load_balancing_setting_maps_to_a_yarp_policy(string setting, string policy)
    {
        var cluster = ProxyConfigMapper.MapCluster(new ResourceId("acme", "web"), new ClusterDefinition { Spec = new ClusterSpec { LoadBalancing = setting } });

        Assert.Equal(policy, cluster.LoadBalancingPolicy);
    }

    [Fact]
    public void Response_headers_timeout_becomes_the_requests_activity_timeout()
    {
        var timed = ProxyConfigMapper.MapCluster(new ResourceId("acme", "web"), new ClusterDefinition
        {
            Spec = new ClusterSpec { Timeouts = new TimeoutsSpec { ResponseHeadersSeconds = 30, ConnectSeconds = 5 } },
        });
        var untimed = ProxyConfigMapper.MapCluster(new ResourceId("acme", "web"), new ClusterDefinition());

        Assert.Equal(TimeSpan.FromSeconds(30), timed.HttpRequest!.ActivityTimeout);
        Assert.Null(untimed.HttpRequest);
    }
}
