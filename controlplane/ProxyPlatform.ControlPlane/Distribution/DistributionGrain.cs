using Orleans.Concurrency;
using ProxyPlatform.ControlPlane.Hosting;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// The sequencer of one pool's configuration (see <see cref="IDistributionGrain"/>). Its state
/// lives in <c>config_resources</c>, one row per resource, rather than in one grain-state blob, so a
/// change costs a write proportional to the change, not to the pool.
/// </summary>
/// <remarks>
/// Commits that arrive while one is being written are checked against the set as the earlier
/// ones leave it and then written together in one transaction, each with its own revision: under
/// load the pool pays one PostgreSQL round trip per batch, not per write. The grain is reentrant
/// so that commits can queue up meanwhile; the committed set changes only after the transaction,
/// in one synchronous step, so no caller ever sees an uncommitted change.
/// <para>
/// Tombstones are pruned, in memory and in PostgreSQL, once every connected worker of the pool has
/// applied past them and they are older than <see cref="ControlPlaneOptions.TombstoneGrace"/>; a
/// worker or node that asks for changes from before the pruned revision is sent a snapshot.
/// </para>
/// </remarks>
[Reentrant]
public sealed class DistributionGrain(
    ConfigStore store, ControlPlaneOptions options, ConfigTombstones tombstones, TimeProvider time, ILogger<DistributionGrain> logger)
    : Grain, IDistributionGrain
{
    // Nodes re-subscribe well within this period; a node that stops doing so has gone away.
    private static readonly TimeSpan ObserverLifetime = TimeSpan.FromMinutes(2);
    private const int MaxBatch = 512;

    private readonly ConfigSet _set = new();
    private readonly Dictionary<IConfigObserver, DateTime> _observers = [];
    private readonly PendingCommits _queue = new(PendingCommits.DefaultMaxCount, PendingCommits.DefaultMaxBytes);
    private bool _writing;
    // The pool's revision as it was at each pruning tick: a tombstone older than the grace is one at or
    // below the revision of the newest tick that is older than the grace. Bounded by grace / period.
    private readonly Queue<(DateTimeOffset At, long Revision)> _ticks = new();
    private long _prunedThrough;
    private bool _pruning;
    private ResourceRemovals? _removals;

    private string Pool => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _prunedThrough = await store.PrunedThroughAsync(Pool, cancellationToken);
        foreach (var entry in await store.LoadPoolAsync(Pool, cancellationToken))
            _set.Apply(entry with { Meta = null });
        tombstones.Set(Pool, ConfigTombstones.Grain, _set.Tombstones);
        _removals = new ResourceRemovals(GrainFactory, logger);
        this.RegisterGrainTimer(PruneAsync, options.PruneEvery, options.PruneEvery);
        logger.LogInformation("Pool {Pool} loaded at revision {Revision} with {Count} resources", Pool, _set.Revision, _set.Count);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        tombstones.Forget(Pool, ConfigTombstones.Grain);
        return Task.CompletedTask;
    }

    public Task<long> Commit(ConfigEntry[] entries)
    {
        var pending = new PendingCommit(entries) { Deadline = time.GetTimestamp() + (long)(options.CommitDeadline.TotalSeconds * time.TimestampFrequency) };
        _queue.Enqueue(pending, Pool);
        if (!_writing)
        {
            _writing = true;
            _ = WriteQueuedAsync();
        }
        return pending.Done.Task;
    }

    public Task Check(ConfigEntry[] entries)
    {
        // Synchronous over the committed set: no commit can change it meanwhile.
        new ConfigBatch(Pool, _set, options.DefaultQuotas, options.OverlapAnalysis).Stage(entries);
        return Task.CompletedTask;
    }

    public Task<PoolSnapshot> GetSnapshot() =>
        Task.FromResult(new PoolSnapshot(Pool, _set.Revision, _set.Entries.ToList(), _prunedThrough));

    public Task<ConfigDelta> GetChangesSince(long revision) =>
        Task.FromResult(revision < _prunedThrough
            // The removals since then are partly forgotten: a delta starting later tells the caller to take a snapshot.
            ? new ConfigDelta(_prunedThrough, _set.Revision, [])
            : new ConfigDelta(revision, _set.Revision, _set.ChangedSince(revision)));

    public Task<TenantUsage> GetUsage(string tenant) => Task.FromResult(_set.Tenancy.UsageOf(tenant));

    public Task<RouteOverlapView[]> GetOverlaps(string tenant, string route) =>
        Task.FromResult(TenantOverlaps.Of(_set.Tenancy.RoutesOf(tenant), ResourceKey.OfRoute(tenant, route)));

    public Task<long> Subscribe(IConfigObserver observer)
    {
        _observers[observer] = DateTime.UtcNow;
        return Task.FromResult(_set.Revision);
    }

    public Task Unsubscribe(IConfigObserver observer)
    {
        _observers.Remove(observer);
        return Task.CompletedTask;
    }

    // Interleaved with commits: it reads the observers only, and a scale-down should not queue behind a burst of writes.
    public Task Drain(string worker, string reason)
    {
        foreach (var observer in _observers.Keys.ToList())
        {
            try
            {
                _ = observer.OnDrain(worker, reason);
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Pool {Pool}: telling an observer to drain {Worker} failed", Pool, worker);
            }
        }
        return Task.CompletedTask;
    }

    private async Task WriteQueuedAsync()
    {
        try
        {
            while (_queue.Count > 0)
            {
                var batch = new ConfigBatch(Pool, _set, options.DefaultQuotas, options.OverlapAnalysis);
                var accepted = new List<PendingCommit>();
                while (accepted.Count < MaxBatch && _queue.TryDequeue(out var pending))
                {
                    if (time.GetTimestamp() >= pending.Deadline)
                    {
                        pending.Done.TrySetException(PastDeadline());
                        continue;
                    }
                    try
                    {
                        accepted.Add(pending with { Entries = batch.Stage(pending.Entries) });
                    }
                    catch (AdminException ex)
                    {
                        pending.Done.TrySetException(ex);
                    }
                }
                if (accepted.Count > 0)
                    await WriteAsync(accepted);
            }
        }
        finally
        {
            _writing = false;
        }
    }

    private AdminException PastDeadline() => AdminException.Busy(
        $"Pool '{Pool}' could not commit the change within {options.CommitDeadline.TotalSeconds:0.#} s (the database is slow or unreachable); nothing was changed, retry it.");

    private async Task WriteAsync(List<PendingCommit> accepted)
    {
        IReadOnlyList<long> revisions;
        // The commit must not outlive its first caller's patience: cancelled then, it commits nothing.
        var remaining = TimeSpan.FromSeconds((double)(accepted.Min(p => p.Deadline) - time.GetTimestamp()) / time.TimestampFrequency);
        using var deadline = new CancellationTokenSource(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, time);
        try
        {
            revisions = await store.CommitAsync(Pool, accepted.Select(p => p.Entries).ToList(), deadline.Token);
        }
        catch (Exception ex) when (deadline.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Pool {Pool}: committing {Count} change(s) did not finish before their callers' deadline; nothing was committed", Pool, accepted.Count);
            foreach (var pending in accepted)
                pending.Done.TrySetException(PastDeadline());
            return;
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Pool {Pool}: committing {Count} change(s) failed", Pool, accepted.Count);
            foreach (var pending in accepted)
                pending.Done.TrySetException(ex);
            return;
        }

        var baseRevision = _set.Revision;
        var stamped = new List<ConfigEntry>();
        for (var i = 0; i < accepted.Count; i++)
        {
            foreach (var entry in accepted[i].Entries)
            {
                // What is distributed: the control plane's own metadata stays in the row.
                var committed = entry with { Revision = revisions[i], Meta = null };
                _removals!.Tell(_set.Get(entry.Key), committed);
                _set.Apply(committed);
                stamped.Add(committed);
            }
        }
        tombstones.Set(Pool, ConfigTombstones.Grain, _set.Tombstones);
        // The pool's roster times each revision from here to each worker's acknowledgement of it.
        GrainFactory.GetGrain<IDataPlanePoolGrain>(Pool).Committed([.. revisions], time.GetUtcNow()).Ignore();
        Notify(new ConfigDelta(baseRevision, revisions[^1], stamped));
        for (var i = 0; i < accepted.Count; i++)
            accepted[i].Done.TrySetResult(revisions[i]);
    }

    /// <summary>
    /// Prunes the tombstones that every connected worker has applied past (the pool's roster says how far
    /// that is) and that are older than the grace: first the rows, then memory, then the nodes' feeds.
    /// </summary>
    private async Task PruneAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        _ticks.Enqueue((now, _set.Revision));
        // Keep the newest tick past the grace at the head: it is how far the grace allows pruning.
        while (_ticks.Count > 1 && now - _ticks.ElementAt(1).At >= options.TombstoneGrace)
            _ticks.Dequeue();
        if (now - _ticks.Peek().At < options.TombstoneGrace)
            return;
        var old = _ticks.Peek().Revision;
        if (_pruning || _set.Tombstones == 0 || old <= _prunedThrough)
            return;
        _pruning = true;
        try
        {
            if (await GrainFactory.GetGrain<IDataPlanePoolGrain>(Pool).GetAppliedHorizon(_set.Revision) is not { } applied)
                return;
            var through = Math.Min(old, applied);
            if (through <= _prunedThrough)
                return;
            var rows = await store.PruneAsync(Pool, through, ct);
            _prunedThrough = through;
            var dropped = _set.Prune(through);
            tombstones.Set(Pool, ConfigTombstones.Grain, _set.Tombstones);
            logger.LogInformation("Pool {Pool}: pruned {Count} tombstone(s) ({Rows} row(s)) at or below revision {Revision}", Pool, dropped, rows, through);
            foreach (var observer in Observers())
            {
                try
                {
                    _ = observer.OnPruned(through);
                }
                catch (Exception ex)
                {
                    // A node that misses this keeps its tombstones a little longer; its next snapshot load corrects it.
                    logger.LogDebug(ex, "Pool {Pool}: telling an observer of pruning failed", Pool);
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Pool {Pool}: pruning tombstones failed; trying again on the next round", Pool);
        }
        finally
        {
            _pruning = false;
        }
    }

    /// <summary>The nodes' observers, less those that have not re-subscribed in time (their node has gone away).</summary>
    private List<IConfigObserver> Observers()
    {
        var now = DateTime.UtcNow;
        foreach (var (observer, seen) in _observers.ToList())
        {
            if (now - seen > ObserverLifetime)
                _observers.Remove(observer);
        }
        return [.. _observers.Keys];
    }

    private void Notify(ConfigDelta delta)
    {
        foreach (var observer in Observers())
        {
            try
            {
                _ = observer.OnConfigChanged(delta);
            }
            catch (Exception ex)
            {
                // The node re-subscribes and catches up from its revision; one bad observer must not stop the others.
                logger.LogWarning(ex, "Pool {Pool}: notifying an observer of revision {Revision} failed", Pool, delta.Revision);
            }
        }
    }

}
