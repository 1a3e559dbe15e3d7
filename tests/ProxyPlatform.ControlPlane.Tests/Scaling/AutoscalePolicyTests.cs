using Microsoft.Extensions.Configuration;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Scaling.Autoscale;

namespace ProxyPlatform.ControlPlane.Tests.Scaling;

public sealed class AutoscalePolicyTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly AutoscaleOptions Windows = new() { UpWindow = TimeSpan.FromSeconds(30), DownWindow = TimeSpan.FromSeconds(300) };

    private static AutoscaleSpec Spec(int min = 1, int max = 8, double target = 100) =>
        new() { MinReplicas = min, MaxReplicas = max, TargetRequestsPerSecondPerReplica = target };

    /// <summary>Looks at the pool every second from T0 for <paramref name="seconds"/> seconds at a steady rate; returns the last decision.</summary>
    private static AutoscaleDecision Steady(AutoscaleSpec spec, int replicas, double rate, int seconds, AutoscaleWindow? start = null)
    {
        var window = start ?? AutoscaleWindow.None;
        AutoscaleDecision decision = null!;
        for (var s = 0; s <= seconds; s++)
        {
            decision = AutoscalePolicy.Decide(spec, replicas, rate, T0.AddSeconds(s), window, Windows);
            window = decision.Window;
            if (decision.Action != AutoscaleAction.Hold)
                break;
        }
        return decision;
    }

    [Fact]
    public void Load_above_target_for_the_whole_up_window_adds_replicas_to_carry_it()
    {
        // 2 replicas at 150 rps each: 3 replicas carry 300 rps at the target.
        Assert.Equal(AutoscaleAction.Hold, Steady(Spec(), 2, 300, 29).Action);
        var up = Steady(Spec(), 2, 300, 30);
        Assert.Equal((AutoscaleAction.ScaleUp, 2, 3), (up.Action, up.From, up.To));
        Assert.Equal((300.0, 150.0, 100.0), (up.RequestsPerSecond, up.PerReplica, up.Target));
        Assert.Equal(AutoscaleWindow.None, up.Window);
    }

    [Fact]
    public void A_dip_to_target_restarts_the_up_window()
    {
        var window = AutoscaleWindow.None;
        for (var s = 0; s < 20; s++)
            window = AutoscalePolicy.Decide(Spec(), 2, 300, T0.AddSeconds(s), window, Windows).Window;
        // One look within target: the next high spell needs a whole window again.
        window = AutoscalePolicy.Decide(Spec(), 2, 200, T0.AddSeconds(20), window, Windows).Window;
        Assert.Equal(AutoscaleWindow.None, window);
        Assert.Equal(AutoscaleAction.Hold, AutoscalePolicy.Decide(Spec(), 2, 300, T0.AddSeconds(45), new AutoscaleWindow(T0.AddSeconds(21), null), Windows).Action);
        Assert.Equal(AutoscaleAction.ScaleUp, AutoscalePolicy.Decide(Spec(), 2, 300, T0.AddSeconds(51), new AutoscaleWindow(T0.AddSeconds(21), null), Windows).Action);
    }

    [Fact]
    public void A_step_never_more_than_doubles_however_high_the_load()
    {
        var up = Steady(Spec(max: 100), 3, 100_000, 30);
        Assert.Equal((AutoscaleAction.ScaleUp, 6), (up.Action, up.To));
    }

    [Fact]
    public void Growth_stops_at_maxReplicas_and_holds_there()
    {
        Assert.Equal(8, Steady(Spec(max: 8), 6, 100_000, 30).To);
        var held = Steady(Spec(max: 8), 8, 100_000, 60);
        Assert.Equal((AutoscaleAction.Hold, 8), (held.Action, held.To));
        Assert.Contains("maxReplicas", held.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_below_half_the_target_for_the_whole_down_window_removes_replicas_but_never_more_than_half()
    {
        // 8 replicas at 10 rps each: 1 would carry 80 rps, but a step halves at most.
        Assert.Equal(AutoscaleAction.Hold, Steady(Spec(), 8, 80, 299).Action);
        var down = Steady(Spec(), 8, 80, 300);
        Assert.Equal((AutoscaleAction.ScaleDown, 8, 4), (down.Action, down.From, down.To));
    }

    [Fact]
    public void Scaling_down_keeps_as_many_replicas_as_carry_the_load_at_target()
    {
        // 8 replicas at 45 rps each (below 50): 4 would carry 360 rps at 90 each.
        var down = Steady(Spec(), 8, 360, 300);
        Assert.Equal((AutoscaleAction.ScaleDown, 4), (down.Action, down.To));
        // 10 replicas at 40 rps: 4 replicas carry 400 rps at the target, but halving stops at 5.
        Assert.Equal(5, Steady(Spec(max: 10), 10, 400, 300).To);
    }

    [Fact]
    public void Load_between_half_and_the_target_holds_forever()
    {
        foreach (var perReplica in new[] { 50.0, 75, 100 })
        {
            var held = Steady(Spec(), 4, 4 * perReplica, 3600);
            Assert.Equal((AutoscaleAction.Hold, AutoscaleWindow.None), (held.Action, held.Window));
        }
    }

    [Fact]
    public void The_pool_never_shrinks_below_minReplicas_nor_to_zero()
    {
        var held = Steady(Spec(min: 3), 3, 0, 3600);
        Assert.Equal((AutoscaleAction.Hold, 3), (held.Action, held.To));
        Assert.Equal(1, Steady(Spec(min: 0), 2, 0, 300).To);
        Assert.Equal(AutoscaleAction.Hold, Steady(Spec(min: 0), 1, 0, 3600).Action);
    }

    [Fact]
    public void A_pool_outside_its_bounds_is_brought_inside_at_once_in_steps_of_at_most_double_or_half()
    {
        Assert.Equal((AutoscaleAction.ScaleUp, 2), Act(AutoscalePolicy.Decide(Spec(min: 2), 1, null, T0, AutoscaleWindow.None, Windows)));
        Assert.Equal((AutoscaleAction.ScaleUp, 4), Act(AutoscalePolicy.Decide(Spec(min: 5), 2, null, T0, AutoscaleWindow.None, Windows)));
        Assert.Equal((AutoscaleAction.ScaleUp, 1), Act(AutoscalePolicy.Decide(Spec(min: 3), 0, null, T0, AutoscaleWindow.None, Windows)));
        Assert.Equal((AutoscaleAction.ScaleDown, 5), Act(AutoscalePolicy.Decide(Spec(max: 2), 10, 0, T0, AutoscaleWindow.None, Windows)));
        Assert.Equal((AutoscaleAction.ScaleDown, 2), Act(AutoscalePolicy.Decide(Spec(max: 2), 3, 0, T0, AutoscaleWindow.None, Windows)));

        static (AutoscaleAction, int) Act(AutoscaleDecision d) => (d.Action, d.To);
    }

    [Fact]
    public void Without_a_reported_rate_nothing_changes_and_the_windows_restart()
    {
        var held = AutoscalePolicy.Decide(Spec(), 4, null, T0.AddSeconds(400), new AutoscaleWindow(null, T0), Windows);
        Assert.Equal((AutoscaleAction.Hold, 4, AutoscaleWindow.None), (held.Action, held.To, held.Window));
        Assert.Contains("no request rate", held.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_decision_over_a_grid_of_pools_keeps_the_invariants()
    {
        var rates = new double?[] { null, 0, 1, 49, 50, 99, 100, 101, 150, 1_000, 1e9 };
        var windows = new[]
        {
            AutoscaleWindow.None, new AutoscaleWindow(T0, null), new AutoscaleWindow(null, T0),
            new AutoscaleWindow(T0.AddSeconds(-29), null), new AutoscaleWindow(T0.AddSeconds(-30), null),
            new AutoscaleWindow(null, T0.AddSeconds(-299)), new AutoscaleWindow(null, T0.AddSeconds(-300)),
        };
        var cases = 0;
        for (var min = 0; min <= 4; min++)
        for (var max = Math.Max(1, min); max <= 12; max += 3)
        for (var replicas = 0; replicas <= 16; replicas++)
        foreach (var perReplicaOrTotal in rates)
        foreach (var window in windows)
        foreach (var target in new[] { 1.0, 100 })
        {
            var spec = Spec(min, max, target);
            var rate = perReplicaOrTotal is { } v ? v * Math.Max(1, replicas) / 100 * target : (double?)null;
            var d = AutoscalePolicy.Decide(spec, replicas, rate, T0, window, Windows);
            cases++;
            var context = $"min {min} max {max} replicas {replicas} rate {rate} window {window}: {d}";
            Assert.True(d.From == replicas, context);
            switch (d.Action)
            {
                case AutoscaleAction.Hold:
                    Assert.True(d.To == replicas, context);
                    break;
                case AutoscaleAction.ScaleUp:
                    Assert.True(d.To > replicas && d.To <= Math.Max(1, 2 * replicas) && d.To <= max, context);
                    // Only a pool below its minimum grows without a whole window of high load.
                    Assert.True(replicas < min || (window.AboveSince is { } above && T0 - above >= Windows.UpWindow && rate / replicas > target), context);
                    Assert.Equal(AutoscaleWindow.None, d.Window);
                    break;
                case AutoscaleAction.ScaleDown:
                    Assert.True(d.To < replicas && d.To >= (replicas + 1) / 2 && d.To >= min && d.To >= 1, context);
                    Assert.True(replicas > max || (window.BelowSince is { } below && T0 - below >= Windows.DownWindow && rate / replicas < target / 2), context);
                    // It never shrinks below what carries the rate at the target, so it does not bounce straight back up.
                    Assert.True(replicas > max || rate / d.To <= target, context);
                    Assert.Equal(AutoscaleWindow.None, d.Window);
                    break;
            }
            // Within bounds, a decision stays within them.
            if (replicas >= min && replicas <= max)
                Assert.True(d.To >= min && d.To <= max, context);
        }
        Assert.True(cases > 10_000);
    }

    [Fact]
    public void The_windows_are_configured_in_seconds_and_bounded()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Scaling:Autoscale:UpWindowSeconds"] = "2",
            ["Scaling:Autoscale:DownWindowSeconds"] = "4",
        }).Build();
        Assert.Equal((TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)), (AutoscaleOptions.From(configuration).UpWindow, AutoscaleOptions.From(configuration).DownWindow));
        Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(300)), (AutoscaleOptions.From(new ConfigurationBuilder().Build()).UpWindow, AutoscaleOptions.From(new ConfigurationBuilder().Build()).DownWindow));
        var zero = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Scaling:Autoscale:UpWindowSeconds"] = "0" }).Build();
        Assert.Throws<InvalidOperationException>(() => AutoscaleOptions.From(zero));
    }
}
