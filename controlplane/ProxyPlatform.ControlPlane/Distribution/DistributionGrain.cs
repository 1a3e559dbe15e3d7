using Orleans.Concurrency;
using ProxyPlatform.ControlPlane.Hosting;
using ProxyPlatform.ControlPlane.Storage;

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
/// </remarks>
[Reentrant]
public sealed class DistributionGrain(ConfigStore store, ControlPlaneOptions options, ILogger<DistributionGrain> logger) : Grain, IDistributionGrain
{
    // Nodes re-subscribe well within this period; a node that stops doing so has gone away.
    private static readonly TimeSpan ObserverLifetime = TimeSpan.FromMinutes(2);
    private const int MaxBatch = 512;

    private readonly ConfigSet _set = new();
    private readonly Dictionary<IConfigObserver, DateTime> _observers = [];
    private readonly Queue<PendingCommit> _queue = new();
    private bool _writing;

    private string Pool => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var entry in await store.LoadPoolAsync(Pool, cancellationToken))
            _set.Apply(entry with { Meta = null });
        logger.LogInformation("Pool {Pool} loaded at revision {Revision} with {Count} resources", Pool, _set.Revision, _set.Count);
    }

    public Task<long> Commit(ConfigEntry[] entries)
    {
        var pending = new PendingCommit(entries);
        _queue.Enqueue(pending);
        if (!_writing)
        {
            _writing = true;
            _ = WriteQueuedAsync();
        }
        return pending.Done.Task;
    }

    public Task<PoolSnapshot> GetSnapshot() =>
        Task.FromResult(new PoolSnapshot(Pool, _set.Revision, _set.Entries.ToList()));

    public Task<ConfigDelta> GetChangesSince(long revision) =>
        Task.FromResult(new ConfigDelta(revision, _set.Revision, _set.ChangedSince(revision)));

    public Task<TenantUsage> GetUsage(string tenant) => Task.FromResult(_set.Tenancy.UsageOf(tenant));

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

    private async Task WriteQueuedAsync()
    {
        try
        {
            while (_queue.Count > 0)
            {
                var batch = new ConfigBatch(Pool, _set, options.DefaultQuotas);
                var accepted = new List<PendingCommit>();
                while (_queue.Count > 0 && accepted.Count < MaxBatch)
                {
                    var pending = _queue.Dequeue();
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

    private async Task WriteAsync(List<PendingCommit> accepted)
    {
        IReadOnlyList<long> revisions;
        try
        {
            revisions = await store.CommitAsync(Pool, accepted.Select(p => p.Entries).ToList());
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
                _set.Apply(committed);
                stamped.Add(committed);
            }
        }
        Notify(new ConfigDelta(baseRevision, revisions[^1], stamped));
        for (var i = 0; i < accepted.Count; i++)
            accepted[i].Done.TrySetResult(revisions[i]);
    }

    private void Notify(ConfigDelta delta)
    {
        var now = DateTime.UtcNow;
        foreach (var (observer, seen) in _observers.ToList())
        {
            if (now - seen > ObserverLifetime)
            {
                _observers.Remove(observer);
                continue;
            }
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

    private sealed record PendingCommit(IReadOnlyList<ConfigEntry> Entries)
    {
        public TaskCompletionSource<long> Done { get; init; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
