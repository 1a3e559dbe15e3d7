using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Hosting;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.DataPlanes;

/// <summary>
/// A pool's live roster, fed by its workers' grains, and the waiters of <c>?wait=</c> writes. The
/// roster is memory only: workers re-announce themselves on every (re)connect and heartbeat.
/// The pool's own settings are its newest committed row, loaded on activation; a commit through
/// the pool's distribution grain is their only write.
/// </summary>
public sealed class DataPlanePoolGrain(TimeProvider time, ControlPlaneOptions options, ConfigStore store, Scaling.IReplicaProvider provider) : Grain, IDataPlanePoolGrain
{
    private readonly Dictionary<string, DataPlaneStatus> _workers = [];
    private readonly List<(long Revision, TaskCompletionSource Done)> _waiters = [];
    private PoolSpec? _spec;
    private long _revision;
    /// <summary>
    /// The most <c>?wait=</c> writes that wait at once; beyond, a write's rollout is answered as it stands
    /// (pending), as a timeout would: the write is committed by then, so it is not refused.
    /// </summary>
    public const int MaxWaiters = 10_000;
    // Every connected worker reports within a silence period (its heartbeat), so only then is the roster whole.
    private readonly DateTimeOffset _activated = time.GetUtcNow();

    private string Pool => this.GetPrimaryKeyString();
    private ResourceKey Key => ResourceKey.OfPool(Pool);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (await store.GetLatestAsync(Key, cancellationToken) is { } row)
            (_spec, _revision) = (row.Json is null ? null : ConfigJson.Read<PoolSpec>(row.Json), row.Revision);
    }

    public Task<PoolResource?> Get() => Task.FromResult(Current());

    public Task<bool> Exists() => Task.FromResult(Current() is not null);

    public async Task<WriteResult<PoolResource>> Put(PoolSpec spec, string? ifMatch)
    {
        var existing = Current();
        ETags.Check(ifMatch, existing?.Revision, $"Pool '{Pool}'");
        CheckProvider(spec);
        if (_spec is not null && ConfigJson.Write(_spec) == ConfigJson.Write(spec))
            return new(existing!, _revision, false);
        await Commit(spec);
        return new(Current()!, _revision, existing is null);
    }

    public async Task<WriteResult<PoolResource>> Patch(string mergePatch, string? ifMatch)
    {
        // Merged here, one patch at a time, so two patches naming different fields both hold.
        var existing = Current();
        ETags.Check(ifMatch, existing?.Revision, $"Pool '{Pool}'");
        var spec = Scaling.MergePatch.Apply(existing?.Spec ?? new PoolSpec(), mergePatch);
        if (ConfigValidator.Validate(spec) is { Count: > 0 } errors)
            throw AdminException.Invalid(errors);
        return await Put(spec, null);
    }

    // The provider may allow fewer replicas than any pool may ask for (the process provider: one machine's worth).
    private void CheckProvider(PoolSpec spec)
    {
        if (spec.Replicas > provider.MaxReplicas)
            throw new AdminException(AdminErrorKind.Conflict, $"replicas: {spec.Replicas} is more than the {provider.Name} provider runs ({provider.MaxReplicas}).",
                [new FieldError("replicas", $"at most {provider.MaxReplicas} with the {provider.Name} provider.")]);
        if (spec.Autoscale?.MaxReplicas > provider.MaxReplicas)
            throw new AdminException(AdminErrorKind.Conflict, $"autoscale.maxReplicas: {spec.Autoscale.MaxReplicas} is more than the {provider.Name} provider runs ({provider.MaxReplicas}).",
                [new FieldError("autoscale.maxReplicas", $"at most {provider.MaxReplicas} with the {provider.Name} provider.")]);
    }

    public async Task<long> Delete(string? ifMatch)
    {
        var existing = Current() ?? throw AdminException.NotFound($"Pool '{Pool}'");
        if (Pool == Pools.Default)
            throw AdminException.Conflict($"The '{Pools.Default}' pool always exists: it serves every tenant that names no pool.");
        ETags.Check(ifMatch, existing.Revision, $"Pool '{Pool}'");
        await Commit(null);
        return _revision;
    }

    // The default pool exists before anyone writes it, with no limits.
    private PoolResource? Current() =>
        _spec is { } spec ? new PoolResource(Pool, spec, _revision)
        : Pool == Pools.Default ? new PoolResource(Pool, new PoolSpec(), _revision)
        : null;

    private async Task Commit(PoolSpec? spec)
    {
        var managed = _spec?.Replicas is not null || spec?.Replicas is not null;
        _revision = await this.CommitAsync(() => GrainFactory.GetGrain<IDistributionGrain>(Pool).Commit([new ConfigEntry(Key, 0, spec is null ? null : ConfigJson.Write(spec))]));
        _spec = spec;
        // The reconciler acts on the new replicas now rather than at its next wake-up.
        if (managed)
            GrainFactory.GetGrain<IPoolReconcilerGrain>(Pool).Wake().Ignore();
    }

    public Task Report(DataPlaneStatus status)
    {
        _workers[status.Worker] = status;
        for (var i = _waiters.Count - 1; i >= 0; i--)
        {
            if (Current(_waiters[i].Revision).Complete)
            {
                _waiters[i].Done.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
        return Task.CompletedTask;
    }

    public Task<Rollout> GetRollout(long revision) => Task.FromResult(Current(revision));

    public Task<long?> GetAppliedHorizon(long latest)
    {
        if (time.GetUtcNow() - _activated < options.WorkerSilence)
            return Task.FromResult<long?>(null);
        var connected = Current(latest).Workers.Where(w => w.Connected).ToList();
        return Task.FromResult<long?>(connected.Count == 0 ? latest : Math.Min(latest, connected.Min(w => w.AppliedRevision)));
    }

    public async Task<Rollout> WaitForRollout(long revision, TimeSpan timeout)
    {
        var rollout = Current(revision);
        if (rollout.Complete || _waiters.Count >= MaxWaiters)
            return rollout;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters.Add((revision, done));
        try
        {
            await done.Task.WaitAsync(timeout, time);
        }
        catch (TimeoutException)
        {
            _waiters.RemoveAll(w => w.Done == done);
        }
        return Current(revision);
    }

    private Rollout Current(long revision)
    {
        var now = time.GetUtcNow();
        // Workers gone past the expiry leave the roster, as their records leave the directory.
        foreach (var gone in _workers.Values.Where(w => !w.Connected && now - (w.LastSeen ?? w.ConnectedSince ?? now) >= options.WorkerExpiry).ToList())
            _workers.Remove(gone.Worker);
        var workers = _workers.Values
            .Select(w => w.Connected && (w.LastSeen is not { } seen || now - seen >= options.WorkerSilence) ? w with { Connected = false } : w)
            .OrderBy(w => w.Worker, StringComparer.Ordinal)
            .ToList();
        return new Rollout(Pool, revision, workers);
    }
}
