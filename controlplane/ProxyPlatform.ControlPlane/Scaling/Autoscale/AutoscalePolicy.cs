using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane.Scaling.Autoscale;

/// <summary>How long a pool's load must stay high or low before the autoscaler acts (<c>Scaling:Autoscale:*</c>).</summary>
public sealed record AutoscaleOptions
{
    /// <summary><c>Scaling:Autoscale:UpWindowSeconds</c>: the per-replica rate above target this long (default 30 s) adds replicas.</summary>
    public TimeSpan UpWindow { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary><c>Scaling:Autoscale:DownWindowSeconds</c>: the per-replica rate below half the target this long (default 300 s) removes replicas.</summary>
    public TimeSpan DownWindow { get; init; } = TimeSpan.FromSeconds(300);
    /// <summary><c>Scaling:Autoscale:IntervalSeconds</c>: how often each pool with <c>autoscale</c> is looked at (default 5 s, as often as workers report).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);

    public static AutoscaleOptions From(IConfiguration configuration)
    {
        var defaults = new AutoscaleOptions();
        var up = configuration.GetValue("Scaling:Autoscale:UpWindowSeconds", defaults.UpWindow.TotalSeconds);
        var down = configuration.GetValue("Scaling:Autoscale:DownWindowSeconds", defaults.DownWindow.TotalSeconds);
        var interval = configuration.GetValue("Scaling:Autoscale:IntervalSeconds", defaults.Interval.TotalSeconds);
        if (!(up is >= 0.1 and <= 3600) || !(down is >= 0.1 and <= 86400))
            throw new InvalidOperationException($"Scaling:Autoscale:UpWindowSeconds must be between 0.1 and 3600 and DownWindowSeconds between 0.1 and 86400; got {up} and {down}.");
        if (!(interval is >= 0.1 and <= 300))
            throw new InvalidOperationException($"Scaling:Autoscale:IntervalSeconds must be between 0.1 and 300; got {interval}.");
        return new AutoscaleOptions { UpWindow = TimeSpan.FromSeconds(up), DownWindow = TimeSpan.FromSeconds(down), Interval = TimeSpan.FromSeconds(interval) };
    }
}

/// <summary>What the autoscaler remembers of a pool between two looks: since when its load has been high, or low.</summary>
[GenerateSerializer, Immutable, Alias("ProxyPlatform.AutoscaleWindow")]
public sealed record AutoscaleWindow([property: Id(0)] DateTimeOffset? AboveSince, [property: Id(1)] DateTimeOffset? BelowSince)
{
    public static readonly AutoscaleWindow None = new(null, null);
}

public enum AutoscaleAction
{
    Hold,
    ScaleUp,
    ScaleDown,
}

/// <summary>One look at a pool: what to do, and the figures it was decided on (all of which are logged).</summary>
/// <param name="RequestsPerSecond">The pool's request rate, as its workers report it; null when none reported.</param>
/// <param name="PerReplica">That rate per desired replica.</param>
/// <param name="Window">What to remember until the next look.</param>
public sealed record AutoscaleDecision(
    AutoscaleAction Action, int From, int To, double? RequestsPerSecond, double? PerReplica, double Target, string Reason, AutoscaleWindow Window);

/// <summary>
/// The autoscaler's rule, free of clocks and I/O so that it can be tested exhaustively. Per desired
/// replica, the pool's reported request rate above <c>targetRequestsPerSecondPerReplica</c> for the
/// whole up window adds replicas (to carry the rate at the target); below half the target for the whole
/// down window removes them (as many as still carry the rate at no more than the target). A step never
/// more than doubles or halves the replicas, never leaves <c>[minReplicas, maxReplicas]</c>, and a pool
/// outside those bounds (an operator changed them) is brought inside at once, in steps of the same size.
/// After a step the windows start again: the next step waits for a whole window of the new figures.
/// </summary>
public static class AutoscalePolicy
{
    /// <summary>Below this share of the target the pool counts as over-provisioned.</summary>
    public const double DownFraction = 0.5;

    public static AutoscaleDecision Decide(AutoscaleSpec spec, int replicas, double? requestsPerSecond, DateTimeOffset now, AutoscaleWindow window, AutoscaleOptions options)
    {
        var min = spec.MinReplicas;
        var max = Math.Max(spec.MaxReplicas, min);
        var target = spec.TargetRequestsPerSecondPerReplica;
        double? perReplica = requestsPerSecond is { } r && replicas > 0 ? r / replicas : null;
        AutoscaleDecision Decision(AutoscaleAction action, int to, string reason, AutoscaleWindow next) =>
            new(action, replicas, to, requestsPerSecond, perReplica, target, reason, next);

        if (replicas < min)
            return Decision(AutoscaleAction.ScaleUp, Math.Min(min, Doubled(replicas)), $"below minReplicas {min}", AutoscaleWindow.None);
        if (replicas > max)
            return Decision(AutoscaleAction.ScaleDown, Math.Max(max, Halved(replicas)), $"above maxReplicas {max}", AutoscaleWindow.None);
        if (perReplica is not { } load || requestsPerSecond is not { } rate || target <= 0)
            return Decision(AutoscaleAction.Hold, replicas, "no request rate reported", AutoscaleWindow.None);

        // Replicas that carry the rate at no more than the target each.
        var needed = (int)Math.Min(int.MaxValue, Math.Ceiling(rate / target));
        if (load > target)
        {
            var since = window.AboveSince ?? now;
            var next = new AutoscaleWindow(since, null);
            if (now - since < options.UpWindow)
                return Decision(AutoscaleAction.Hold, replicas, $"above target for {(now - since).TotalSeconds:0.#} s of {options.UpWindow.TotalSeconds:0.#} s", next);
            var to = Math.Min(max, Math.Min(Doubled(replicas), Math.Max(needed, replicas + 1)));
            return to > replicas
                ? Decision(AutoscaleAction.ScaleUp, to, $"above target for {(now - since).TotalSeconds:0.#} s; {needed} replicas would carry it", AutoscaleWindow.None)
                : Decision(AutoscaleAction.Hold, replicas, $"above target, but at maxReplicas {max}", next);
        }
        if (load < target * DownFraction)
        {
            var since = window.BelowSince ?? now;
            var next = new AutoscaleWindow(null, since);
            if (now - since < options.DownWindow)
                return Decision(AutoscaleAction.Hold, replicas, $"below {DownFraction:P0} of target for {(now - since).TotalSeconds:0.#} s of {options.DownWindow.TotalSeconds:0.#} s", next);
            var to = Math.Max(min, Math.Max(Halved(replicas), Math.Max(needed, 1)));
            return to < replicas
                ? Decision(AutoscaleAction.ScaleDown, to, $"below {DownFraction:P0} of target for {(now - since).TotalSeconds:0.#} s; {needed} replicas would carry it", AutoscaleWindow.None)
                : Decision(AutoscaleAction.Hold, replicas, $"below {DownFraction:P0} of target, but at {(to == min ? $"minReplicas {min}" : "the fewest that carry it")}", next);
        }
        return Decision(AutoscaleAction.Hold, replicas, "within target", AutoscaleWindow.None);
    }

    /// <summary>At most twice as many (and from none, one).</summary>
    private static int Doubled(int replicas) => replicas == 0 ? 1 : replicas > int.MaxValue / 2 ? int.MaxValue : replicas * 2;

    /// <summary>At least half as many, rounded up.</summary>
    private static int Halved(int replicas) => (replicas + 1) / 2;
}
