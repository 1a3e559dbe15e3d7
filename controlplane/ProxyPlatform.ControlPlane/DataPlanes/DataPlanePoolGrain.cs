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
/// <remarks>
/// The grain also measures convergence: the distribution grain tells it when each revision of the pool
/// was committed (<see cref="PoolRevisions"/>, the last hour; loaded from <c>config_commits</c> on
/// activation), and each report of a worker whose applied revision moved gives one sample per revision it
/// took in (<see cref="ConvergenceWindow"/>), counted only for revisions committed since the roster first
/// saw the worker connected (a reconnect does not reset it). The samples are memory only, as the roster is.
/// </remarks>
public sealed class DataPlanePoolGrain(TimeProvider time, ControlPlaneOptions options, ConfigStore store, ConvergenceMetrics metrics, Scaling.IReplicaProvider provider, ILogger<DataPlanePoolGrain> logger) : Grain, IDataPlanePoolGrain
{
    private readonly Dictionary<string, DataPlaneStatus> _workers = [];
    private readonly PoolRevisions _revisions = new(PoolRevisions.DefaultMaxAge, PoolRevisions.DefaultMaxCount);
    private readonly Dictionary<string, ConvergenceWindow> _convergence = [];
    // Per worker: the stream (its ConnectedSince) on which it last caught up with the pool.
    private readonly Dictionary<string, DateTimeOffset?> _caughtUp = [];
    // Per worker: when this roster first heard of it connected; only revisions committed since count as its samples.
    private readonly Dictionary<string, DateTimeOffset> _joined = [];
    // Per worker: the highest revision it has been measured through. A new stream may report a lower
    // applied revision (what it saved), and the revisions up to here must not be sampled twice.
    private readonly Dictionary<string, long> _measured = [];
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
        var now = time.GetUtcNow();
        var (commits, leftOut) = await store.RecentCommitsAsync(Pool, now - PoolRevisions.DefaultMaxAge, PoolRevisions.DefaultMaxCount, cancellationToken);
        _revisions.Load(commits, leftOut, now);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.ForgetPool(Pool);
        return Task.CompletedTask;
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
        // Who changed the pool, as the call carried it (ChangeContext): the autoscaler's steps are told apart from an operator's.
        if (ChangeContext.Current is { } author)
            logger.LogInformation("Pool {Pool} at revision {Revision}: replicas {Replicas}, by {Actor} ({Action})", Pool, _revision, spec?.Replicas, author.ActorName, author.Action ?? "update");
        // The reconciler acts on the new replicas now rather than at its next wake-up.
        if (managed)
            GrainFactory.GetGrain<IPoolReconcilerGrain>(Pool).ReconcileNow().Ignore();
    }

    public Task Report(DataPlaneStatus status)
    {
        var previous = _workers.GetValueOrDefault(status.Worker);
        _workers[status.Worker] = status;
        Measure(previous, status);
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

    public async Task<Rollout> GetRollout(long revision)
    {
        var rollout = Current(revision);
        var applied = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var worker in rollout.Workers)
        {
            if (_convergence.GetValueOrDefault(worker.Worker)?.ApplyTimeOf(revision) is { } ms)
                applied[worker.Worker] = ms;
        }
        return rollout with
        {
            Workers = await Assess(rollout.Workers),
            CommittedAt = _revisions.CommittedAt(revision),
            AppliedAfterMs = applied,
        };
    }

    public Task Committed(long[] revisions, DateTimeOffset at)
    {
        var now = time.GetUtcNow();
        var added = _revisions.Add(revisions, at, now);
        foreach (var worker in _workers.Values)
        {
            // A worker whose report came before this notice applied these revisions when it reported.
            if (worker.LastSeen is { } seen && _joined.TryGetValue(worker.Worker, out var joined) && joined <= at)
            {
                foreach (var revision in added)
                {
                    if (worker.HasApplied(revision))
                        Sample(worker, revision, at, seen);
                }
            }
            metrics.Lag(Pool, worker.Worker, _revisions.After(worker.AppliedRevision).Revisions);
        }
        return Task.CompletedTask;
    }

    public async Task<IReadOnlyList<DataPlaneStatus>> Assess(IReadOnlyList<DataPlaneStatus> workers)
    {
        var now = time.GetUtcNow();
        var assessed = new List<DataPlaneStatus>(workers.Count);
        foreach (var worker in workers)
            assessed.Add(worker with { Progress = await ProgressOf(worker, now) });
        return assessed;
    }

    /// <summary>
    /// A worker's lag, state and convergence. The lag in seconds of a connected worker counts from its
    /// connection at the earliest: a worker that has just joined is not stale for the pool's history.
    /// </summary>
    private async Task<WorkerProgress> ProgressOf(DataPlaneStatus worker, DateTimeOffset now)
    {
        var (revisions, oldest) = _revisions.After(worker.AppliedRevision);
        long lag = revisions;
        if (worker.AppliedRevision < _revisions.Floor)
        {
            // Behind what the pool remembers in memory (the last hour, or its newest revisions): PostgreSQL counts the rest.
            var (count, first) = await store.CommitsBetweenAsync(Pool, worker.AppliedRevision, _revisions.Floor);
            lag += count;
            oldest = first ?? oldest;
        }
        if (worker.Connected && oldest is { } o && worker.ConnectedSince is { } since && since > o)
            oldest = since;
        var lagSeconds = oldest is { } unapplied ? Math.Max(0, (now - unapplied).TotalSeconds) : 0;
        if (lag == 0 && worker.Connected)
            _caughtUp[worker.Worker] = worker.ConnectedSince;
        // A worker that said it drains (or leaves) is that, whatever its lag; one that drained and went away
        // without saying it leaves (its report lost, or it was killed while draining) is gone, like any worker
        // that is not connected.
        var state = worker.Drain is { } drain && (worker.Connected || drain != WorkerStates.Draining) ? drain
            : !worker.Connected ? WorkerStates.Gone
            : lagSeconds > options.StaleAfter.TotalSeconds || (options.StaleAfterRevisions is { } most && lag > most) ? WorkerStates.Stale
            : lag == 0 || (_caughtUp.TryGetValue(worker.Worker, out var caughtUp) && caughtUp == worker.ConnectedSince) ? WorkerStates.Ready
            : WorkerStates.Starting;
        var percentiles = _convergence.GetValueOrDefault(worker.Worker)?.Percentiles(now);
        return new WorkerProgress(state, lag, Math.Round(lagSeconds, 3), percentiles?.P50 is { } p50 ? Math.Round(p50, 3) : null, percentiles?.P99 is { } p99 ? Math.Round(p99, 3) : null);
    }

    /// <summary>Takes the revisions a worker's report says it has newly applied as samples of its convergence.</summary>
    private void Measure(DataPlaneStatus? previous, DataPlaneStatus status)
    {
        if (status.Connected && status.ConnectedSince is { } connected)
            _joined.TryAdd(status.Worker, connected);
        var from = Math.Max(previous?.AppliedRevision ?? status.AppliedRevision, _measured.GetValueOrDefault(status.Worker));
        _measured[status.Worker] = Math.Max(from, status.AppliedRevision);
        if (status.AppliedRevision > from && _joined.TryGetValue(status.Worker, out var joined))
        {
            var at = status.LastSeen ?? time.GetUtcNow();
            foreach (var (revision, committedAt) in _revisions.Between(from, status.AppliedRevision))
            {
                // A revision committed before the worker joined is the pool's history, not something it was slow to apply.
                if (committedAt >= joined && status.HasApplied(revision))
                    Sample(status, revision, committedAt, at);
            }
        }
        if (status.Connected && status.AppliedRevision >= _revisions.Latest)
            _caughtUp[status.Worker] = status.ConnectedSince;
        metrics.Lag(Pool, status.Worker, _revisions.After(status.AppliedRevision).Revisions);
    }

    private void Sample(DataPlaneStatus worker, long revision, DateTimeOffset committedAt, DateTimeOffset appliedAt)
    {
        if (!_convergence.TryGetValue(worker.Worker, out var window))
            _convergence[worker.Worker] = window = new ConvergenceWindow(PoolRevisions.DefaultMaxAge, ConvergenceWindow.DefaultMaxCount);
        window.Add(revision, committedAt, appliedAt);
        metrics.Applied(Pool, Math.Max(0, (appliedAt - committedAt).TotalMilliseconds));
    }

    public Task<long?> GetAppliedHorizon(long latest)
    {
        if (time.GetUtcNow() - _activated < options.WorkerSilence)
            return Task.FromResult<long?>(null);
        var connected = Current(latest).Workers.Where(w => w.Connected).ToList();
        return Task.FromResult<long?>(connected.Count == 0 ? latest : Math.Min(latest, connected.Min(w => w.AppliedRevision)));
    }

    public async Task<Rollout> WaitForRollout(long revision, TimeSpan timeout)
    {
        if (!Current(revision).Complete && _waiters.Count < MaxWaiters)
        {
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
        }
        // The answer after a wait is the same as without one: with the commit time, each worker's apply time and state.
        return await GetRollout(revision);
    }

    private Rollout Current(long revision)
    {
        var now = time.GetUtcNow();
        // Workers gone past the expiry leave the roster, as their records leave the directory.
        foreach (var gone in _workers.Values.Where(w => !w.Connected && now - (w.LastSeen ?? w.ConnectedSince ?? now) >= options.WorkerExpiry).ToList())
        {
            _workers.Remove(gone.Worker);
            _convergence.Remove(gone.Worker);
            _caughtUp.Remove(gone.Worker);
            _joined.Remove(gone.Worker);
            _measured.Remove(gone.Worker);
            metrics.Forget(Pool, gone.Worker);
        }
        var workers = _workers.Values
            .Select(w => w.Connected && (w.LastSeen is not { } seen || now - seen >= options.WorkerSilence) ? w with { Connected = false } : w)
            .OrderBy(w => w.Worker, StringComparer.Ordinal)
            .ToList();
        return new Rollout(Pool, revision, workers);
    }
}
