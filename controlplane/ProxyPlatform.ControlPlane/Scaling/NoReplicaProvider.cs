namespace ProxyPlatform.ControlPlane.Scaling;

/// <summary>
/// <c>Scaling:Provider=None</c>: replicas are only recorded; workers are started by someone else (docker
/// compose, an operator), and the pool's GET reports the difference to the workers connected as drift.
/// </summary>
public sealed class NoReplicaProvider(IGrainFactory grains) : IReplicaProvider
{
    public string Name => ScalingOptions.NoProvider;

    public int MaxReplicas => Configuration.ConfigValidator.MaxReplicas;

    public Task<ReplicaObservation> EnsureAsync(string pool, int desired, CancellationToken cancellationToken) => ObserveAsync(pool, cancellationToken);

    public async Task<ReplicaObservation> ObserveAsync(string pool, CancellationToken cancellationToken)
    {
        var roster = await grains.GetGrain<IDataPlanePoolGrain>(pool).GetRollout(0);
        var connected = roster.Workers.Where(w => w.Connected).ToList();
        return new ReplicaObservation(connected.Count, connected.Count, connected.Select(w => new ReplicaInstance(w.Worker, ReplicaStates.Ready)).ToList());
    }

    public Task<bool> DrainAsync(string pool, string worker, CancellationToken cancellationToken) => Task.FromResult(false);

    public Task ReleaseAsync(string pool, CancellationToken cancellationToken) => Task.CompletedTask;
}
