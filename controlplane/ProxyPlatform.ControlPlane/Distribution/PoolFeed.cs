using Google.Protobuf;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// This node's copy of one pool's configuration, fed by the pool's distribution grain through a
/// single observer, and shared by every worker stream this node holds for the pool. Each resource
/// is rendered to its wire form once, however many workers receive it.
/// </summary>
/// <remarks>
/// The feed forgets removals as the pool prunes its tombstones (<see cref="OnPruned"/>); a worker
/// that asks for changes from before them is sent a snapshot instead of a delta.
/// </remarks>
/// <param name="render">
/// A committed entry's JSON as workers receive it (a certificate's sealed key opened,
/// <see cref="Certificates.CertificateSecrets.ToWire"/>); null: as committed.
/// </param>
public sealed class PoolFeed(string pool, IGrainFactory grains, ILogger logger, ConfigTombstones? tombstones = null, Func<ConfigEntry, string>? render = null) : IConfigObserver
{
    private const int RecentChanges = 4096;
    // Notifications that arrived before the ones they follow are held while the feed keeps moving; it pulls
    // what it lacks once it has not moved for this long, or as soon as it notices it holds more than this many.
    private static readonly TimeSpan EarlyPatience = TimeSpan.FromMilliseconds(200);
    private const int MaxEarly = 256;
    // Held notifications past this are dropped: the catch-up from the grain brings what they carried.
    private const int MaxHeld = 4 * MaxEarly;

    private readonly Lock _gate = new();
    private readonly Dictionary<ResourceKey, Resource> _live = [];
    private readonly Dictionary<ResourceKey, long> _removed = [];
    private readonly Queue<(long Base, long Revision, ResourceKey[] Keys)> _recent = new();
    private readonly SortedDictionary<long, ConfigDelta> _early = [];
    // The workers streaming through this node that wait for a possible drain, at most one entry per open stream.
    private readonly Dictionary<string, TaskCompletionSource<string>> _drains = new(StringComparer.Ordinal);
    // The backend IDs of the clusters workers have reported on, read once per version of each cluster:
    // those it has now, and those it has had since this node first read it (whose final counts may still come).
    private readonly Dictionary<ResourceKey, (long Revision, HashSet<string> Current, HashSet<string> Ever)> _backends = [];
    private bool _watching;
    private TaskCompletionSource _changed = NewSignal();
    private bool _loaded;
    private int _catchingUp;
    private long _prunedThrough;

    public string Pool { get; } = pool;

    public long Revision { get; private set; }

    internal IConfigObserver? Reference { get; set; }

    public void Load(PoolSnapshot snapshot)
    {
        lock (_gate)
        {
            _live.Clear();
            _removed.Clear();
            _backends.Clear();
            _recent.Clear();
            foreach (var entry in snapshot.Entries)
                Put(entry);
            Revision = snapshot.Revision;
            _prunedThrough = snapshot.PrunedThrough;
            _loaded = true;
            Count();
            ApplyEarly();
            Signal();
        }
    }

    public Task OnConfigChanged(ConfigDelta delta)
    {
        var gap = false;
        lock (_gate)
        {
            if (!_loaded || delta.Revision <= Revision)
                return Task.CompletedTask;
            if (delta.BaseRevision > Revision)
            {
                // Notifications can overtake one another on their way here: hold this one until the
                // ones before it arrive, and pull what is missing only if they do not come soon.
                if (_early.Count < MaxHeld)
                    _early[delta.BaseRevision] = delta;
                gap = !_watching;
                _watching = true;
            }
            else
            {
                Apply(delta);
                ApplyEarly();
            }
        }
        if (gap)
            _ = CatchUpSoonAsync();
        return Task.CompletedTask;
    }

    public Task OnPruned(long revision)
    {
        lock (_gate)
        {
            if (!_loaded || revision <= _prunedThrough || revision > Revision)
                return Task.CompletedTask;
            _prunedThrough = revision;
            foreach (var (key, removed) in _removed.ToList())
            {
                if (removed <= revision)
                    _removed.Remove(key);
            }
            // The changes up to the horizon are needed by no connected worker; whoever is further behind gets a snapshot.
            while (_recent.TryPeek(out var change) && change.Revision <= revision)
                _recent.Dequeue();
            // A cluster's former backends were kept so that their last counts could still be reported.
            foreach (var (cluster, known) in _backends.ToList())
            {
                if (known.Revision <= revision)
                    _backends[cluster] = (known.Revision, known.Current, new HashSet<string>(known.Current, StringComparer.Ordinal));
            }
            Count();
        }
        return Task.CompletedTask;
    }

    /// <summary>Asks the stream of <paramref name="worker"/> on this node, if it has one, to send it a Drain.</summary>
    public Task OnDrain(string worker, string reason)
    {
        lock (_gate)
        {
            if (_drains.TryGetValue(worker, out var waiting))
                waiting.TrySetResult(reason);
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Completes with the reason when the worker is told to drain while its stream on this node is open;
    /// the stream calls <see cref="ForgetDrain"/> when it ends. A drain asked for while no stream of the worker
    /// is here is not kept: the provider asks again until the worker reports that it drains.
    /// </summary>
    public Task<string> DrainRequested(string worker)
    {
        lock (_gate)
        {
            if (!_drains.TryGetValue(worker, out var waiting))
                _drains[worker] = waiting = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            return waiting.Task;
        }
    }

    public void ForgetDrain(string worker, Task<string> requested)
    {
        lock (_gate)
        {
            if (_drains.TryGetValue(worker, out var waiting) && waiting.Task == requested)
                _drains.Remove(worker);
        }
    }

    /// <summary>How many notifications are held until the ones before them arrive.</summary>
    public int Held
    {
        get
        {
            lock (_gate)
                return _early.Count;
        }
    }

    /// <summary>How many removals this feed still remembers (tombstones), for <c>/metrics</c> and tests.</summary>
    public int Tombstones
    {
        get
        {
            lock (_gate)
                return _removed.Count;
        }
    }

    private void Count() => tombstones?.Set(Pool, ConfigTombstones.Feed, _removed.Count);

    /// <summary>While notifications are held, pulls what is missing whenever the feed has not moved for a while.</summary>
    private async Task CatchUpSoonAsync()
    {
        long seen;
        lock (_gate)
            seen = Revision;
        while (true)
        {
            await Task.Delay(EarlyPatience);
            bool stuck;
            lock (_gate)
            {
                if (_early.Count == 0)
                {
                    _watching = false;
                    return;
                }
                stuck = Revision == seen || _early.Count > MaxEarly;
                seen = Revision;
            }
            if (stuck)
                await CatchUpAsync();
        }
    }

    /// <summary>Applies the held notifications that now follow on; drops those already covered.</summary>
    private void ApplyEarly()
    {
        while (_early.Count > 0)
        {
            var (baseRevision, next) = _early.First();
            if (baseRevision > Revision)
                return;
            _early.Remove(baseRevision);
            if (next.Revision > Revision)
                Apply(next);
        }
    }

    /// <summary>Pulls whatever this node missed (a lost notification, a re-activated grain).</summary>
    public async Task CatchUpAsync()
    {
        if (Interlocked.Exchange(ref _catchingUp, 1) == 1)
            return;
        try
        {
            var grain = grains.GetGrain<IDistributionGrain>(Pool);
            var delta = await grain.GetChangesSince(Revision);
            bool behindPruned;
            lock (_gate)
            {
                behindPruned = delta.BaseRevision > Revision;
                if (delta.BaseRevision <= Revision && delta.Revision > Revision)
                    Apply(delta);
                ApplyEarly();
            }
            // The pool has pruned removals this feed never heard of: only a snapshot says what is gone.
            if (behindPruned)
                Load(await grain.GetSnapshot());
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Pool {Pool}: catching up from revision {Revision} failed; retrying on the next refresh", Pool, Revision);
        }
        finally
        {
            Volatile.Write(ref _catchingUp, 0);
        }
    }

    /// <summary>
    /// What a worker that has applied <paramref name="from"/> needs: nothing when it is current, a
    /// delta when this node still knows what changed since, otherwise a full snapshot.
    /// </summary>
    public ConfigUpdate? BuildUpdate(long from, bool forceFull)
    {
        lock (_gate)
        {
            if (!forceFull && from == Revision)
                return null;
            if (forceFull || from <= 0 || from > Revision)
                return Full();
            var oldest = _recent.Count > 0 ? _recent.Peek().Base : Revision;
            if (from < oldest)
                // Removals at or below the pruned revision are forgotten: only a snapshot drops them on the worker.
                return from < _prunedThrough ? Full() : ScanSince(from);
            var keys = new HashSet<ResourceKey>();
            foreach (var change in _recent)
            {
                if (change.Revision > from)
                    keys.UnionWith(change.Keys);
            }
            return Delta(from, keys);
        }
    }

    /// <summary>
    /// True when the pool holds <paramref name="key"/>, or did until it was removed: what workers report
    /// on is judged against it (a removed route's final counts still arrive once after its removal).
    /// </summary>
    public bool Knows(ResourceKey key)
    {
        lock (_gate)
            return _live.ContainsKey(key) || _removed.ContainsKey(key);
    }

    /// <summary>The backends of a cluster the pool holds now, or null when it holds no such cluster.</summary>
    public IReadOnlySet<string>? BackendsOf(string tenant, string cluster)
    {
        lock (_gate)
            return Backends(ResourceKey.OfCluster(tenant, cluster))?.Current;
    }

    /// <summary>True when a cluster the pool holds has, or had, the backend.</summary>
    public bool KnowsBackend(string tenant, string cluster, string backend)
    {
        lock (_gate)
            return Backends(ResourceKey.OfCluster(tenant, cluster))?.Ever.Contains(backend) == true;
    }

    private (HashSet<string> Current, HashSet<string> Ever)? Backends(ResourceKey cluster)
    {
        if (!_live.TryGetValue(cluster, out var resource))
            return null;
        if (_backends.TryGetValue(cluster, out var known) && known.Revision == resource.Revision)
            return (known.Current, known.Ever);
        var definition = System.Text.Json.JsonSerializer.Deserialize<Configuration.ClusterDefinition>(resource.SpecJson.Span, Configuration.ConfigJson.Options)!;
        var current = new HashSet<string>(definition.Backends.Keys, StringComparer.Ordinal);
        var ever = new HashSet<string>(current, StringComparer.Ordinal);
        if (known.Ever is not null)
            ever.UnionWith(known.Ever);
        _backends[cluster] = (resource.Revision, current, ever);
        return (current, ever);
    }

    /// <summary>Completes when the feed's revision differs from <paramref name="revision"/>.</summary>
    public Task WaitForChangeAsync(long revision, CancellationToken ct)
    {
        Task signal;
        lock (_gate)
        {
            if (Revision != revision)
                return Task.CompletedTask;
            signal = _changed.Task;
        }
        return signal.WaitAsync(ct);
    }

    /// <summary>
    /// Applies a delta that starts at or before this feed's revision: the changes in (base, revision]
    /// are all in it, so those after this feed's revision are exactly what the feed lacks.
    /// </summary>
    private void Apply(ConfigDelta delta)
    {
        var from = Revision;
        var keys = new List<ResourceKey>(delta.Entries.Count);
        foreach (var entry in delta.Entries)
        {
            if (entry.Revision <= from)
                continue;
            Put(entry);
            keys.Add(entry.Key);
        }
        _recent.Enqueue((from, delta.Revision, keys.ToArray()));
        while (_recent.Count > RecentChanges)
            _recent.Dequeue();
        Revision = delta.Revision;
        Count();
        Signal();
    }

    private void Put(ConfigEntry entry)
    {
        if (entry.IsRemoval)
        {
            _live.Remove(entry.Key);
            _backends.Remove(entry.Key);
            _removed[entry.Key] = entry.Revision;
            return;
        }
        _removed.Remove(entry.Key);
        _live[entry.Key] = new Resource
        {
            Key = ResourceKinds.ToWire(entry.Key),
            Revision = entry.Revision,
            SpecJson = ByteString.CopyFromUtf8(render is null ? entry.Json : render(entry)),
        };
    }

    private ConfigUpdate Full()
    {
        var update = new ConfigUpdate { Revision = Revision, BaseRevision = 0 };
        update.Upserts.AddRange(_live.Values);
        return update;
    }

    private ConfigUpdate ScanSince(long from)
    {
        var keys = _live.Where(r => r.Value.Revision > from).Select(r => r.Key)
            .Concat(_removed.Where(r => r.Value > from).Select(r => r.Key));
        return Delta(from, keys);
    }

    private ConfigUpdate Delta(long from, IEnumerable<ResourceKey> keys)
    {
        var update = new ConfigUpdate { Revision = Revision, BaseRevision = from };
        foreach (var key in keys)
        {
            if (_live.TryGetValue(key, out var resource))
                update.Upserts.Add(resource);
            else
                update.Removals.Add(ResourceKinds.ToWire(key));
        }
        return update;
    }

    private void Signal()
    {
        var previous = _changed;
        _changed = NewSignal();
        previous.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
