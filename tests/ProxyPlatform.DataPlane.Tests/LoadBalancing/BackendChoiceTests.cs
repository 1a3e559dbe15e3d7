using System.Diagnostics;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.LoadBalancing;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.RequestPathParts;

namespace ProxyPlatform.DataPlane.Tests.LoadBalancing;

/// <summary>Where one request's attempts go, one after another.</summary>
public sealed class BackendChoiceTests
{
    private static readonly CircuitBreakerSettings Breaker = new(ConsecutiveFailures: 1, OpenTicks: Stopwatch.Frequency * 60);

    private static ClusterRuntime Three(SessionAffinitySpec? affinity = null) =>
        Cluster(new ClusterSpec { LoadBalancing = LoadBalancingPolicies.RoundRobin, SessionAffinity = affinity },
            ("a", "http://127.0.0.1:9001"), ("b", "http://127.0.0.1:9002"), ("c", "http://127.0.0.1:9003"));

    private static string?[] Attempts(ClusterRuntime cluster, int count, string? affinityKey = null)
    {
        var choice = new BackendChoice(cluster, affinityKey);
        var now = Stopwatch.GetTimestamp();
        return [.. Enumerable.Range(0, count).Select(i => choice.Next(firstAttempt: i == 0, now)?.Id)];
    }

    [Fact]
    public void Each_attempt_goes_to_a_backend_not_yet_tried_then_any_again()
    {
        var cluster = Three();

        for (var request = 0; request < 10; request++)
        {
            var attempts = Attempts(cluster, 5);
            Assert.Equal(["a", "b", "c"], attempts.Take(3).Order());
            Assert.All(attempts.Skip(3), id => Assert.NotNull(id));
        }
    }

    [Fact]
    public void A_backend_whose_circuit_is_open_is_never_chosen_and_with_every_one_open_there_is_none()
    {
        var cluster = Three();
        cluster.Backends[1].State.Failed(Breaker, Stopwatch.GetTimestamp());

        for (var request = 0; request < 10; request++)
            Assert.DoesNotContain("b", Attempts(cluster, 4));

        cluster.Backends[0].State.Failed(Breaker, Stopwatch.GetTimestamp());
        cluster.Backends[2].State.Failed(Breaker, Stopwatch.GetTimestamp());
        Assert.Null(Attempts(cluster, 1)[0]);
    }

    [Fact]
    public void The_first_attempt_follows_the_affinity_key_and_a_retry_goes_elsewhere()
    {
        var cluster = Three(new SessionAffinitySpec { Mode = "header", Name = "X-Sticky" });
        var keyOfC = cluster.Affinity!.KeyFor(cluster.Backends[2]);

        for (var request = 0; request < 10; request++)
        {
            var attempts = Attempts(cluster, 2, keyOfC);
            Assert.Equal("c", attempts[0]);
            Assert.NotEqual("c", attempts[1]);
        }
    }

    [Fact]
    public void An_affinity_key_naming_a_backend_with_an_open_circuit_or_none_at_all_is_balanced_as_without_one()
    {
        var cluster = Three(new SessionAffinitySpec { Mode = "header", Name = "X-Sticky" });
        var keyOfC = cluster.Affinity!.KeyFor(cluster.Backends[2]);
        cluster.Backends[2].State.Failed(Breaker, Stopwatch.GetTimestamp());

        var firsts = Enumerable.Range(0, 10).Select(_ => Attempts(cluster, 1, keyOfC)[0]).ToHashSet();
        Assert.Equal(["a", "b"], firsts.Order());

        var unknown = Enumerable.Range(0, 10).Select(_ => Attempts(cluster, 1, "0123456789abcdef")[0]).ToHashSet();
        Assert.Equal(["a", "b"], unknown.Order());
    }

    [Fact]
    public void Choosing_allocates_nothing()
    {
        var cluster = Three(new SessionAffinitySpec { Mode = "header", Name = "X-Sticky" });
        var key = cluster.Affinity!.KeyFor(cluster.Backends[0]);
        var now = Stopwatch.GetTimestamp();
        new BackendChoice(cluster, key).Next(true, now);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            var choice = new BackendChoice(cluster, key);
            choice.Next(firstAttempt: true, now);
            choice.Next(firstAttempt: false, now);
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
