using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Backends;

/// <summary>
/// A tenant's cluster and its backend registry. The data plane needs a cluster and its backends
/// together, so they are one distributed resource; a cluster's backends are few, so a backend
/// write rewrites only its own cluster.
/// </summary>
/// <remarks>
/// Like every configuration grain, its state is its newest committed <c>config_resources</c> row,
/// loaded when it activates; a commit is the only write. The row's spec is what workers receive
/// (<see cref="ClusterDefinition"/>); the row's meta keeps what only the admin API needs: the
/// revision at which the settings and each backend last changed, their ETags.
/// </remarks>
public sealed class ClusterGrain(ConfigStore store, ConfigCommits commits, ILogger<ClusterGrain> logger) : Grain, IClusterGrain
{
    /// <summary>The most backends one cluster may have: each is probed by every worker of the pool.</summary>
    public const int MaxBackends = 1000;

    private ClusterSpec? _spec;
    private ClusterMeta _meta = new();
    private Dictionary<string, BackendSpec> _backends = new(StringComparer.Ordinal);

    private (string Tenant, string Cluster) Id => GrainKeys.Split(this.GetPrimaryKeyString());
    private ResourceKey Key => ResourceKey.OfCluster(Id.Tenant, Id.Cluster);
    private string What => $"Cluster '{Id.Tenant}/{Id.Cluster}'";

    public override Task OnActivateAsync(CancellationToken cancellationToken) => LoadAsync(cancellationToken);

    public Task Reload() => LoadAsync(CancellationToken.None);

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        (_spec, _backends, _meta) = (null, new Dictionary<string, BackendSpec>(StringComparer.Ordinal), new ClusterMeta());
        if (await store.GetLatestAsync(Key, cancellationToken) is not { Json: { } json } row)
            return;
        var definition = ConfigJson.Read<ClusterDefinition>(json);
        _spec = definition.Spec;
        _backends = new Dictionary<string, BackendSpec>(definition.Backends, StringComparer.Ordinal);
        // A row committed before the meta column existed: everything dates from the row's revision.
        _meta = (row.Meta is { } meta ? ConfigJson.Read<ClusterMeta>(meta) : new ClusterMeta()).Resolved(row.Revision);
    }

    public Task<ClusterResource?> Get() => Task.FromResult(_spec is { } spec ? new ClusterResource(Id.Tenant, Id.Cluster, spec, _meta.SpecRevision) : null);

    public async Task<WriteResult<ClusterResource>> Put(ClusterSpec spec, string? ifMatch)
    {
        var existing = _spec;
        ETags.Check(ifMatch, existing is null ? null : _meta.SpecRevision, What);
        if (existing is not null && ConfigJson.Write(existing) == ConfigJson.Write(spec))
            return new((await Get())!, _meta.SpecRevision, false);
        var backends = existing is null ? new Dictionary<string, BackendSpec>(StringComparer.Ordinal) : _backends;
        var meta = existing is null ? new ClusterMeta() : _meta;
        var revision = await Commit(spec, backends, meta, changed: null);
        return new(new ClusterResource(Id.Tenant, Id.Cluster, spec, revision), revision, existing is null);
    }

    public async Task<long> Delete(string? ifMatch)
    {
        if (_spec is null)
            throw AdminException.NotFound(What);
        ETags.Check(ifMatch, _meta.SpecRevision, What);
        // The cluster's verdicts go with it, in the same change, and its verdict grain forgets it, so a
        // cluster created again under this name starts Unknown.
        var revision = await this.CommitAsync(() => commits.CommitAsync(new ConfigEntry(Key, 0, null), new ConfigEntry(ResourceKey.HealthOf(Id.Tenant, Id.Cluster), 0, null)));
        (_spec, _backends, _meta) = (null, new Dictionary<string, BackendSpec>(StringComparer.Ordinal), new ClusterMeta());
        try
        {
            await GrainFactory.GetGrain<IHealthVerdictGrain>(this.GetPrimaryKeyString()).Reset();
        }
        catch (Exception ex)
        {
            // The deletion stands (its verdicts were removed with it); only the verdict history outlives it.
            logger.LogWarning(ex, "Cluster {Cluster} deleted, but forgetting its verdicts failed", this.GetPrimaryKeyString());
        }
        return revision;
    }

    public Task<BackendResource?> GetBackend(string backend) =>
        Task.FromResult(_spec is not null && _backends.TryGetValue(backend, out var b) ? ToResource(backend, b) : null);

    public Task<IReadOnlyList<BackendResource>> ListBackends() =>
        _spec is null
            ? throw AdminException.NotFound(What)
            : Task.FromResult<IReadOnlyList<BackendResource>>(_backends.OrderBy(b => b.Key, StringComparer.Ordinal).Select(b => ToResource(b.Key, b.Value)).ToList());

    public async Task<WriteResult<BackendResource>> PutBackend(string backend, BackendSpec spec, string? ifMatch)
    {
        var clusterSpec = _spec ?? throw AdminException.NotFound(What);
        var existing = _backends.GetValueOrDefault(backend);
        ETags.Check(ifMatch, existing is null ? null : BackendRevision(backend), $"Backend '{Id.Tenant}/{Id.Cluster}/{backend}'");
        if (existing is not null && existing == spec)
            return new(ToResource(backend, existing), BackendRevision(backend), false);
        if (existing is null && _backends.Count >= MaxBackends)
            throw AdminException.Invalid("backend", $"{What} already has {MaxBackends} backends, the most a cluster may have.");
        var backends = new Dictionary<string, BackendSpec>(_backends, StringComparer.Ordinal) { [backend] = spec };
        var revision = await Commit(clusterSpec, backends, _meta, changed: backend);
        return new(ToResource(backend, spec), revision, existing is null);
    }

    public async Task<long> DeleteBackend(string backend, string? ifMatch)
    {
        var clusterSpec = _spec ?? throw AdminException.NotFound(What);
        if (!_backends.ContainsKey(backend))
            throw AdminException.NotFound($"Backend '{Id.Tenant}/{Id.Cluster}/{backend}'");
        ETags.Check(ifMatch, BackendRevision(backend), $"Backend '{Id.Tenant}/{Id.Cluster}/{backend}'");
        var backends = new Dictionary<string, BackendSpec>(_backends, StringComparer.Ordinal);
        backends.Remove(backend);
        return await Commit(clusterSpec, backends, _meta, changed: backend);
    }

    /// <summary>
    /// Commits the cluster with <paramref name="backends"/> and takes it as the grain's state: a change of
    /// the settings (<paramref name="changed"/> null) or of one backend, stamped with the new revision.
    /// </summary>
    private async Task<long> Commit(ClusterSpec spec, Dictionary<string, BackendSpec> backends, ClusterMeta meta, string? changed)
    {
        var definition = new ClusterDefinition { Spec = spec, Backends = new SortedDictionary<string, BackendSpec>(backends, StringComparer.Ordinal) };
        var pending = new ConfigEntry(Key, 0, ConfigJson.Write(definition));
        // The revision is drawn by the commit itself: the row's meta says "this row's revision" (0) for what changed.
        var revision = await this.CommitAsync(() => commits.CommitAsync(pending with { Meta = ConfigJson.Write(meta.After(changed, backends, 0)) }));
        _spec = spec;
        _backends = backends;
        _meta = meta.After(changed, backends, revision);
        return revision;
    }


    /// <summary>
    /// The meta of a cluster row that a configuration apply commits in place of <paramref name="current"/> (null: a new
    /// cluster): what it leaves as it was keeps its revision, what it changes is stamped with the commit's (0).
    /// </summary>
    public static string MetaAfterApply(ConfigEntry? current, ClusterDefinition after)
    {
        if (current is not { Json: { } json })
            return ConfigJson.Write(new ClusterMeta().After(null, after.Backends, 0));
        var before = ConfigJson.Read<ClusterDefinition>(json);
        var old = (current.Meta is { } meta ? ConfigJson.Read<ClusterMeta>(meta) : new ClusterMeta()).Resolved(current.Revision);
        return ConfigJson.Write(new ClusterMeta
        {
            SpecRevision = ConfigJson.Write(before.Spec) == ConfigJson.Write(after.Spec) ? old.SpecRevision : 0,
            BackendRevisions = after.Backends.ToDictionary(
                b => b.Key,
                b => before.Backends.TryGetValue(b.Key, out var was) && was == b.Value ? old.BackendRevisions.GetValueOrDefault(b.Key, old.SpecRevision) : 0,
                StringComparer.Ordinal),
        });
    }

    private long BackendRevision(string backend) => _meta.BackendRevisions.GetValueOrDefault(backend, _meta.SpecRevision);

    private BackendResource ToResource(string backend, BackendSpec spec) => new(Id.Tenant, Id.Cluster, backend, spec, BackendRevision(backend));

    /// <summary>
    /// What a cluster's row keeps beside its spec: the revision at which its settings and each backend
    /// last changed. In the row, 0 stands for the row's own revision, which its commit draws.
    /// </summary>
    private sealed record ClusterMeta
    {
        public long SpecRevision { get; init; }
        public IReadOnlyDictionary<string, long> BackendRevisions { get; init; } = new Dictionary<string, long>();

        /// <summary>The meta after a change of the settings (<paramref name="changed"/> null) or of one backend, at <paramref name="revision"/>.</summary>
        public ClusterMeta After(string? changed, IReadOnlyDictionary<string, BackendSpec> backends, long revision) => new()
        {
            SpecRevision = changed is null ? revision : SpecRevision,
            BackendRevisions = backends.Keys.ToDictionary(b => b, b => b == changed ? revision : BackendRevisions.GetValueOrDefault(b, SpecRevision), StringComparer.Ordinal),
        };

        /// <summary>The meta as read from a row committed at <paramref name="rowRevision"/>; a row without any dates everything from its revision.</summary>
        public ClusterMeta Resolved(long rowRevision) => new()
        {
            SpecRevision = SpecRevision == 0 ? rowRevision : SpecRevision,
            BackendRevisions = BackendRevisions.ToDictionary(b => b.Key, b => b.Value == 0 ? rowRevision : b.Value, StringComparer.Ordinal),
        };
    }
}
