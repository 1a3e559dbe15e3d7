using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Tests.Health;

/// <summary>How verdicts and drains shape the backends a cluster routes to.</summary>
public sealed class ClusterVerdictTests
{
    private static readonly ResourceKey Id = ResourceKey.OfCluster("acme", "web");

    private static ClusterDefinition Definition(bool panic = false, bool healthCheck = true, bool bEnabled = true) => new()
    {
        Spec = new ClusterSpec { HealthCheck = healthCheck ? new HealthCheckSpec { Panic = panic } : null },
        Backends = new Dictionary<string, BackendSpec>
        {
            ["a"] = new() { Address = "http://127.0.0.1:9001" },
            ["b"] = new() { Address = "http://127.0.0.1:9002", Enabled = bEnabled },
        },
    };

    private static ClusterHealthSpec Verdicts(params (string Backend, string Verdict)[] verdicts) => new()
    {
        Backends = verdicts.ToDictionary(v => v.Backend, v => new BackendVerdictSpec { Verdict = v.Verdict, Since = DateTimeOffset.UtcNow }),
    };

    private static string[] Routed(ClusterRuntime cluster) => [.. cluster.Backends.Select(b => b.Id)];

    [Fact]
    public void An_Unhealthy_backend_gets_no_requests_and_Healthy_or_Unknown_ones_do()
    {
        var cluster = ClusterRuntime.Build(Id, Definition(), Verdicts(("a", HealthVerdicts.Unhealthy), ("b", HealthVerdicts.Healthy)), null);
        Assert.Equal(["b"], Routed(cluster));
        Assert.Equal(["a", "b"], cluster.Enabled.Select(b => b.Id));
        Assert.False(cluster.AllUnhealthy);

        Assert.Equal(["a", "b"], Routed(ClusterRuntime.Build(Id, Definition(), null, null)));
    }

    [Fact]
    public void Every_backend_Unhealthy_routes_nowhere_unless_the_cluster_panics()
    {
        var verdicts = Verdicts(("a", HealthVerdicts.Unhealthy), ("b", HealthVerdicts.Unhealthy));
        var strict = ClusterRuntime.Build(Id, Definition(), verdicts, null);
        Assert.Empty(strict.Backends);
        Assert.True(strict.AllUnhealthy);

        var panicking = ClusterRuntime.Build(Id, Definition(panic: true), verdicts, null);
        Assert.Equal(["a", "b"], Routed(panicking));
        Assert.True(panicking.AllUnhealthy);
    }

    [Fact]
    public void Verdicts_are_ignored_once_the_cluster_has_no_health_check()
    {
        var cluster = ClusterRuntime.Build(Id, Definition(healthCheck: false), Verdicts(("a", HealthVerdicts.Unhealthy)), null);
        Assert.Equal(["a", "b"], Routed(cluster));
    }

    [Fact]
    public void A_new_verdict_or_a_drain_keeps_the_connection_pool_and_what_the_worker_knew_of_each_backend()
    {
        var before = ClusterRuntime.Build(Id, Definition(), null, null);
        before.Enabled[0].State.Started();

        var ejected = ClusterRuntime.Build(Id, Definition(), Verdicts(("a", HealthVerdicts.Unhealthy)), before);
        Assert.Same(before.Pool, ejected.Pool);
        Assert.Same(before.Enabled[0].State, ejected.Enabled[0].State);
        Assert.Equal(1, ejected.Enabled[0].State.InFlight);

        var drained = ClusterRuntime.Build(Id, Definition(bEnabled: false), null, ejected);
        Assert.Same(before.Pool, drained.Pool);
        Assert.Equal(["a"], Routed(drained));
    }
}
