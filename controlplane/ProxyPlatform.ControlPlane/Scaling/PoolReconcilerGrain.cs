using ProxyPlatform.ControlPlane.Hosting;

namespace ProxyPlatform.ControlPlane.Scaling;

/// <summary>
/// Compares a pool's desired replicas with what its provider has, and asks the provider to act, once per
/// <see cref="ScalingOptions.ReconcileEvery"/>. Orleans keeps one activation of it across the cluster; the
/// provider's own leases (the process provider's slot records) make a takeover adopt what the lost
/// activation started instead of starting it again.
/// </summary>
public sealed class PoolReconcilerGrain(IReplicaProvider provider, ScalingOptions options, ILogger<PoolReconcilerGrain> logger) : Grain, IPoolReconcilerGrain
{
    private IGrainTimer? _timer;
    private int? _desired;
    private ReplicaObservation? _seen;

    private string Pool => this.GetPrimaryKeyString();

    public Task Wake()
    {
        _timer ??= this.RegisterGrainTimer(ReconcileAsync, new GrainTimerCreationOptions(TimeSpan.Zero, options.ReconcileEvery) { KeepAlive = true });
        return Task.CompletedTask;
    }

    public Task ReconcileNow()
    {
        if (_timer is null)
            return Wake();
        // A new count is acted on at once: up to a whole period less from PATCH to the new worker starting.
        _timer.Change(TimeSpan.Zero, options.ReconcileEvery);
        return Task.CompletedTask;
    }

    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        try
        {
            var pool = await GrainFactory.GetGrain<IDataPlanePoolGrain>(Pool).Get();
            if (pool?.Spec.Replicas is not { } desired)
            {
                // Deleted: its workers would be refused, so they are drained and stopped first.
                if (pool is null && _desired is not null && (await provider.EnsureAsync(Pool, 0, cancellationToken)).Actual > 0)
                    return;
                // Unmanaged: its workers are left as they are.
                await provider.ReleaseAsync(Pool, cancellationToken);
                _timer?.Dispose();
                _timer = null;
                DeactivateOnIdle();
                return;
            }
            var seen = await provider.EnsureAsync(Pool, desired, cancellationToken);
            if (desired != _desired || seen.Actual != _seen?.Actual || seen.Ready != _seen?.Ready)
                logger.LogInformation("Pool {Pool}: {Desired} desired, {Actual} running, {Ready} ready ({Provider})", Pool, desired, seen.Actual, seen.Ready, provider.Name);
            (_desired, _seen) = (desired, seen);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Pool {Pool}: reconciling failed; trying again", Pool);
        }
    }
}

/// <summary>
/// Wakes the reconciler of every pool with replicas every few seconds, on every silo: a reconciler whose
/// silo was lost comes back on a live one at the next wake (its timer died with the silo).
/// </summary>
public sealed class ReconcilerWakeUp(IGrainFactory grains, Storage.ConfigStore store, IReplicaProvider provider, IHostApplicationLifetime lifetime, ILogger<ReconcilerWakeUp> logger) : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(3);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period);
        // The listeners' ports are known once the server has started.
        await Task.Delay(Timeout.Infinite, lifetime.ApplicationStarted).ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(stoppingToken);
        do
        {
            try
            {
                // Process workers started by any node on this machine may fail over to this one.
                (provider as ProcessReplicaProvider)?.Announce();
                var pools = await store.ListAsync(Resources.ResourceKind.Pool, "", stoppingToken);
                foreach (var pool in pools.Where(p => p.Json is { } json && Configuration.ConfigJson.Read<Configuration.PoolSpec>(json).Replicas is not null))
                    await grains.GetGrain<IPoolReconcilerGrain>(pool.Key.Id).Wake();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogDebug(ex, "Waking the pools' reconcilers failed; trying again");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
