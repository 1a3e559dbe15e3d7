using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane.Scaling.Autoscale;

/// <summary>
/// A pool's autoscaler (<see cref="IPoolAutoscalerGrain"/>): on each tick it reads the pool's body and its
/// request rate (<see cref="IPoolTrafficGrain"/>), asks <see cref="AutoscalePolicy"/>, logs the decision
/// with its figures, and applies a change as a merge patch of <c>replicas</c> through the pool's grain,
/// exactly as <c>PATCH /v1/pools/{pool}</c> does (so <c>limits</c> and <c>autoscale</c> are never
/// overwritten), conditional on the pool not having changed since it was read.
/// </summary>
/// <remarks>
/// The windows are memory: an autoscaler that moves to another silo starts them again, which only
/// delays a step by one window.
/// </remarks>
public sealed class PoolAutoscalerGrain(AutoscaleOptions options, TimeProvider time, ILogger<PoolAutoscalerGrain> logger) : Grain, IPoolAutoscalerGrain
{
    public const string Actor = "autoscaler";

    /// <summary>The action its changes are recorded under.</summary>
    public const string ScaleAction = "scale";

    private AutoscaleWindow _window = AutoscaleWindow.None;
    private DateTimeOffset _lastTick = DateTimeOffset.MinValue;
    private string? _lastHold;

    private string Pool => this.GetPrimaryKeyString();

    public async Task Tick()
    {
        var now = time.GetUtcNow();
        // Every node ticks every pool: one look per interval is enough.
        if (now - _lastTick < options.Interval * 0.8)
            return;
        _lastTick = now;
        var pools = GrainFactory.GetGrain<IDataPlanePoolGrain>(Pool);
        if (await pools.Get() is not { Spec: { Autoscale: { } autoscale, Replicas: { } replicas } } pool)
        {
            _window = AutoscaleWindow.None;
            return;
        }
        var rate = await GrainFactory.GetGrain<IPoolTrafficGrain>(Pool).GetRate();
        var decision = AutoscalePolicy.Decide(autoscale, replicas, replicas > 0 ? rate.RequestsPerSecond : null, now, _window, options);
        _window = decision.Window;
        if (decision.Action == AutoscaleAction.Hold)
        {
            // A hold is logged when its reason changes, not on every tick.
            var kind = decision.Reason.Split(' ')[0..2];
            var key = string.Join(' ', kind);
            if (key != _lastHold)
                logger.LogInformation("Autoscaler holds pool {Pool} at {Replicas} replicas: {Rate:0.##} requests/s from {Workers} reporting workers, {PerReplica:0.##} per replica against a target of {Target} ({Reason})",
                    Pool, replicas, rate.RequestsPerSecond, rate.Workers, decision.PerReplica, decision.Target, decision.Reason);
            _lastHold = key;
            return;
        }
        _lastHold = null;
        logger.LogInformation("Autoscaler (actor {Actor}) scales pool {Pool} from {From} to {To} replicas: {Rate:0.##} requests/s from {Workers} reporting workers, {PerReplica:0.##} per replica against a target of {Target}, bounds {Min}-{Max} ({Reason})",
            Actor, Pool, decision.From, decision.To, rate.RequestsPerSecond, rate.Workers, decision.PerReplica, decision.Target, autoscale.MinReplicas, autoscale.MaxReplicas, decision.Reason);
        try
        {
            await PatchAsAutoscalerAsync(pools, decision.To, pool.Revision);
        }
        catch (AdminException ex)
        {
            // The pool changed meanwhile (an operator's write wins) or no longer takes the value: look again next tick.
            logger.LogWarning("Autoscaler did not scale pool {Pool} to {To}: {Reason}", Pool, decision.To, ex.Message);
            _window = AutoscaleWindow.None;
        }
    }

    /// <summary>
    /// The patch, made as the actor <c>autoscaler</c> with the action <c>scale</c>: <see cref="ChangeContext"/>
    /// puts both in Orleans' RequestContext, which goes with the grain call (and every call it makes) to
    /// where the change is committed and audited. Set in this method's own async flow, they end with it and
    /// never reach the tick's later calls.
    /// </summary>
    private static async Task PatchAsAutoscalerAsync(IDataPlanePoolGrain pools, int replicas, long revision)
    {
        ChangeContext.SetActor(Actor, Actor, null);
        ChangeContext.Action = ScaleAction;
        await pools.Patch($$"""{"replicas":{{replicas}}}""", ETags.Format(revision));
    }
}

/// <summary>Ticks the autoscaler of every pool that has <c>autoscale</c>, from every node (the grain keeps one look per interval).</summary>
public sealed class AutoscaleTicker(Storage.ConfigStore store, IGrainFactory grains, AutoscaleOptions options, ILogger<AutoscaleTicker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var pools = await store.ListAsync(Resources.ResourceKind.Pool, "", stoppingToken);
                await Task.WhenAll(pools
                    .Where(p => p.Json is not null && ConfigJson.Read<PoolSpec>(p.Json).Autoscale is not null)
                    .Select(p => grains.GetGrain<IPoolAutoscalerGrain>(p.Key.Id).Tick()));
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // The database or a silo is unavailable for a moment: the next tick tries again.
                logger.LogWarning(ex, "Autoscale tick failed");
            }
        }
    }
}
