using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Health;

namespace ProxyPlatform.ControlPlane.Tests.Health;

public sealed class HealthQuorumTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    private static BackendObservation[] Sees(ProbeView view, params string[] backends) =>
        [.. backends.Select(b => new BackendObservation(b, view, T0, 1.5, view == ProbeView.Failing ? "status 503" : null, false, null))];

    /// <summary>Decides and holds the result, as the grain does once its commit succeeded.</summary>
    private static List<VerdictDecision> Settle(HealthQuorum quorum, DateTimeOffset at)
    {
        var decisions = quorum.Decide(at);
        quorum.Accept(decisions, at);
        return decisions;
    }

    [Fact]
    public void A_backend_is_Unknown_until_a_majority_of_reporting_workers_agree()
    {
        var quorum = new HealthQuorum(Window);
        Assert.Equal(HealthVerdicts.Unknown, quorum.VerdictOf("a"));

        quorum.Record("w1", "i1", T0, Sees(ProbeView.Passing, "a"));
        quorum.Record("w2", "i2", T0, Sees(ProbeView.Failing, "a"));
        Assert.Empty(Settle(quorum, T0));
        Assert.Equal(HealthVerdicts.Unknown, quorum.VerdictOf("a"));

        quorum.Record("w3", "i3", T0, Sees(ProbeView.Passing, "a"));
        var decision = Assert.Single(Settle(quorum, T0));
        Assert.Equal(new VerdictDecision("a", HealthVerdicts.Healthy, 1, 2, 3), decision);
    }

    [Fact]
    public void One_dissenting_worker_of_three_does_not_eject_a_backend()
    {
        var quorum = new HealthQuorum(Window);
        quorum.Record("w1", "i", T0, Sees(ProbeView.Passing, "a"));
        quorum.Record("w2", "i", T0, Sees(ProbeView.Passing, "a"));
        quorum.Record("w3", "i", T0, Sees(ProbeView.Failing, "a"));
        Settle(quorum, T0);
        Assert.Equal(HealthVerdicts.Healthy, quorum.VerdictOf("a"));

        quorum.Record("w2", "i", T0.AddSeconds(1), Sees(ProbeView.Failing, "a"));
        var decision = Assert.Single(Settle(quorum, T0.AddSeconds(1)));
        Assert.Equal(new VerdictDecision("a", HealthVerdicts.Unhealthy, 2, 1, 3), decision);
    }

    [Fact]
    public void A_split_keeps_the_verdict_held_before()
    {
        var quorum = new HealthQuorum(Window);
        quorum.Record("w1", "i", T0, Sees(ProbeView.Failing, "a"));
        quorum.Record("w2", "i", T0, Sees(ProbeView.Failing, "a"));
        Settle(quorum, T0);
        Assert.Equal(HealthVerdicts.Unhealthy, quorum.VerdictOf("a"));

        // One of two recovers: one failing, one passing, neither more than half.
        quorum.Record("w1", "i", T0.AddSeconds(1), Sees(ProbeView.Passing, "a"));
        Assert.Empty(Settle(quorum, T0.AddSeconds(1)));
        Assert.Equal(HealthVerdicts.Unhealthy, quorum.VerdictOf("a"));

        quorum.Record("w2", "i", T0.AddSeconds(2), Sees(ProbeView.Passing, "a"));
        Assert.Equal(HealthVerdicts.Healthy, Assert.Single(Settle(quorum, T0.AddSeconds(2))).Verdict);
    }

    [Fact]
    public void Views_older_than_the_window_stop_counting()
    {
        var quorum = new HealthQuorum(Window);
        quorum.Record("w1", "i", T0, Sees(ProbeView.Passing, "a"));
        quorum.Record("w2", "i", T0, Sees(ProbeView.Passing, "a"));
        Settle(quorum, T0);

        // w1 keeps reporting a failure; w2 went silent. Inside the window it is still one against one.
        quorum.Record("w1", "i", T0.AddSeconds(5), Sees(ProbeView.Failing, "a"));
        Assert.Empty(Settle(quorum, T0.AddSeconds(5)));
        quorum.Record("w1", "i", T0.AddSeconds(11), Sees(ProbeView.Failing, "a"));
        var decision = Assert.Single(Settle(quorum, T0.AddSeconds(11)));
        Assert.Equal(new VerdictDecision("a", HealthVerdicts.Unhealthy, 1, 0, 1), decision);
        Assert.Equal(["w1"], quorum.ViewsOf("a").Select(v => v.Worker));
    }

    [Fact]
    public void A_disconnected_worker_stops_counting_but_not_a_newer_instance_of_it()
    {
        var quorum = new HealthQuorum(Window);
        quorum.Record("w1", "i", T0, Sees(ProbeView.Failing, "a"));
        quorum.Record("w2", "i", T0, Sees(ProbeView.Passing, "a"));
        quorum.Record("w3", "old", T0, Sees(ProbeView.Passing, "a"));
        Settle(quorum, T0);
        Assert.Equal(HealthVerdicts.Healthy, quorum.VerdictOf("a"));

        Assert.True(quorum.Forget("w3", "old"));
        quorum.Record("w2", "i", T0.AddSeconds(1), Sees(ProbeView.Failing, "a"));
        Assert.Equal(HealthVerdicts.Unhealthy, Assert.Single(Settle(quorum, T0.AddSeconds(1))).Verdict);

        quorum.Record("w3", "new", T0.AddSeconds(2), Sees(ProbeView.Passing, "a"));
        Assert.False(quorum.Forget("w3", "old"));
        Assert.Equal(3, quorum.ViewsOf("a").Count);
    }

    [Fact]
    public void Workers_that_have_not_probed_enough_are_not_reporting()
    {
        var quorum = new HealthQuorum(Window);
        quorum.Record("w1", "i", T0, Sees(ProbeView.Failing, "a"));
        quorum.Record("w2", "i", T0, Sees(ProbeView.Unknown, "a"));
        quorum.Record("w3", "i", T0, Sees(ProbeView.Unknown, "a"));
        Assert.Equal(new VerdictDecision("a", HealthVerdicts.Unhealthy, 1, 0, 1), Assert.Single(Settle(quorum, T0)));
    }

    [Fact]
    public void Nothing_is_held_until_accepted_and_restored_verdicts_count_as_held()
    {
        var quorum = new HealthQuorum(Window);
        quorum.Restore("a", HealthVerdicts.Unhealthy, T0);
        quorum.Record("w1", "i", T0, Sees(ProbeView.Failing, "a"));
        Assert.Empty(quorum.Decide(T0));

        quorum.Record("w1", "i", T0, Sees(ProbeView.Passing, "a"));
        Assert.Single(quorum.Decide(T0));
        Assert.Single(quorum.Decide(T0));
        Assert.Equal(HealthVerdicts.Unhealthy, quorum.VerdictOf("a"));
    }

    [Fact]
    public void A_backend_removed_from_its_cluster_loses_its_verdict_and_every_view_of_it()
    {
        var quorum = new HealthQuorum(Window);
        quorum.Record("w1", "i1", T0, Sees(ProbeView.Failing, "gone", "kept"));
        quorum.Record("w2", "i2", T0, Sees(ProbeView.Failing, "gone", "kept"));
        Settle(quorum, T0);
        Assert.Equal(HealthVerdicts.Unhealthy, quorum.VerdictOf("gone"));

        Assert.True(quorum.ForgetBackend("gone"));

        Assert.Equal(HealthVerdicts.Unknown, quorum.VerdictOf("gone"));
        Assert.Equal(["kept"], quorum.Backends());
        Assert.Empty(quorum.ViewsOf("gone"));
        // Nothing left to decide about it, and forgetting it again finds no verdict.
        Assert.DoesNotContain(quorum.Decide(T0), d => d.Backend == "gone");
        Assert.False(quorum.ForgetBackend("gone"));
    }
}
