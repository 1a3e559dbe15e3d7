using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// The sequencer of one pool's configuration (see <see cref="IDistributionGrain"/>). Its state
/// lives in <c>config_resources</c>, one row per resource, rather than in one grain-state blob, so a
/// change costs a write proportional to the change, not to the pool.
/// </summary>
public sealed class DistributionGrain(ConfigStore store, ILogger<DistributionGrain> logger) : Grain, IDistributionGrain
{
    // Nodes re-subscribe well within this period; a node that stops doing so has gone away.
    private static readonly TimeSpan ObserverLifetime = TimeSpan.FromMinutes(2);

    private readonly ConfigSet _set = new();
    private readonly Dictionary<IConfigObserver, DateTime> _observers = [];
    private string Pool => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var entry in await store.LoadPoolAsync(Pool, cancellationToken))
            _set.Apply(entry);
        logger.LogInformation("Pool {Pool} loaded at revision {Revision} with {Count} resources", Pool, _set.Revision, _set.Entries.Count());
    }

    public async Task<long> Commit(IReadOnlyList<ConfigEntry> entries)
    {
        _set.Check(entries);
        var baseRevision = _set.Revision;
        var revision = await store.CommitAsync(Pool, entries);
        var stamped = entries.Select(e => e with { Revision = revision }).ToList();
        foreach (var entry in stamped)
            _set.Apply(entry);
        Notify(new ConfigDelta(baseRevision, revision, stamped));
        return revision;
    }

    public Task<PoolSnapshot> GetSnapshot() =>
        Task.FromResult(new PoolSnapshot(Pool, _set.Revision, 0, _set.Entries.ToList()));

    public Task<ConfigDelta?> GetChangesSince(long revision) =>
        Task.FromResult<ConfigDelta?>(new ConfigDelta(revision, _set.Revision, _set.ChangedSince(revision)));

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
}
