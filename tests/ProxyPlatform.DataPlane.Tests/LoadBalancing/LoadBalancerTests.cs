using System.Diagnostics;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.LoadBalancing;

namespace ProxyPlatform.DataPlane.Tests.LoadBalancing;

public sealed class LoadBalancerTests
{
    private static Backend[] Backends(params int[] weights) =>
        [.. weights.Select((w, i) => new Backend(((char)('a' + i)).ToString(), $"http://127.0.0.1:{9000 + i}", w, new BackendState()))];

    private static Dictionary<string, int> Count(LoadBalancer balancer, Backend[] backends, int requests)
    {
        var counts = backends.ToDictionary(b => b.Id, _ => 0);
        for (var i = 0; i < requests; i++)
            counts[backends[balancer.Choose(backends, 0, Stopwatch.GetTimestamp())].Id]++;
        return counts;
    }

    [Fact]
    public void Smooth_weighted_round_robin_follows_the_weights_exactly_without_bursts()
    {
        var backends = Backends(5, 1, 1);
        var balancer = LoadBalancer.For(LoadBalancingPolicies.WeightedRoundRobin);

        var first = Enumerable.Range(0, 7).Select(_ => backends[balancer.Choose(backends, 0, 0)].Id);
        Assert.Equal("aabacaa", string.Concat(first));
        Assert.Equal(new Dictionary<string, int> { ["a"] = 500, ["b"] = 100, ["c"] = 100 }, Count(balancer, backends, 700));
    }

    [Fact]
    public void Round_robin_alternates_and_skips_tried_backends()
    {
        var backends = Backends(1, 1, 1);
        var balancer = LoadBalancer.For(LoadBalancingPolicies.RoundRobin);

        Assert.Equal(new Dictionary<string, int> { ["a"] = 100, ["b"] = 100, ["c"] = 100 }, Count(balancer, backends, 300));
        for (var i = 0; i < 10; i++)
            Assert.Equal(2, balancer.Choose(backends, tried: 0b011, now: 0));
        Assert.Equal(-1, balancer.Choose(backends, tried: 0b111, now: 0));
    }

    [Theory]
    [InlineData(LoadBalancingPolicies.RoundRobin)]
    [InlineData(LoadBalancingPolicies.WeightedRoundRobin)]
    [InlineData(LoadBalancingPolicies.LeastRequests)]
    [InlineData(LoadBalancingPolicies.PowerOfTwoChoices)]
    [InlineData(LoadBalancingPolicies.Random)]
    public void Every_policy_skips_backends_whose_circuit_is_open(string policy)
    {
        var backends = Backends(1, 1);
        var breaker = new CircuitBreakerSettings(1, Stopwatch.Frequency * 60);
        backends[0].State.Failed(breaker, Stopwatch.GetTimestamp());
        var balancer = LoadBalancer.For(policy);

        for (var i = 0; i < 50; i++)
            Assert.Equal(1, balancer.Choose(backends, 0, Stopwatch.GetTimestamp()));
    }

    [Fact]
    public void Least_requests_prefers_the_backend_with_fewest_in_flight()
    {
        var backends = Backends(1, 1, 1);
        backends[0].State.Started();
        backends[1].State.Started();
        var balancer = LoadBalancer.For(LoadBalancingPolicies.LeastRequests);

        for (var i = 0; i < 10; i++)
            Assert.Equal(2, balancer.Choose(backends, 0, 0));
    }

    [Fact]
    public void Power_of_two_choices_never_picks_the_busier_of_two()
    {
        var backends = Backends(1, 1);
        for (var i = 0; i < 5; i++)
            backends[0].State.Started();
        var balancer = LoadBalancer.For(LoadBalancingPolicies.PowerOfTwoChoices);

        for (var i = 0; i < 50; i++)
            Assert.Equal(1, balancer.Choose(backends, 0, 0));
    }
}
