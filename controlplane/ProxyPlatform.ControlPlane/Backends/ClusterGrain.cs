using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;

namespace ProxyPlatform.ControlPlane.Backends;

[GenerateSerializer, Alias("pp.BackendState")]
public sealed class BackendState
{
    [Id(0)] public BackendSpec Spec { get; set; } = new();
    [Id(1)] public long Revision { get; set; }
}

[GenerateSerializer, Alias("pp.ClusterState")]
public sealed class ClusterState
{
    [Id(0)] public ClusterSpec? Spec { get; set; }
    /// <summary>The revision at which the cluster's own settings last changed (its ETag).</summary>
    [Id(1)] public long SpecRevision { get; set; }
    [Id(2)] public Dictionary<string, BackendState> Backends { get; set; } = [];
    /// <summary>The revision at which anything of the cluster, backends included, last changed.</summary>
    [Id(3)] public long Revision { get; set; }
}

/// <summary>
/// A tenant's cluster and its backend registry. The data plane needs a cluster and its backends
/// together, so they are one distributed resource; a cluster's backends are few, so a backend
/// write rewrites only its own cluster.
/// </summary>
public sealed class ClusterGrain(
    [PersistentState("cluster", Hosting.ControlPlaneHost.ResourceStorage)] IPersistentState<ClusterState> state,
    ConfigWriter writer, ILogger<ClusterGrain> logger) : Grain, IClusterGrain
{
    private (string Tenant, string Cluster) Id => GrainKeys.Split(this.GetPrimaryKeyString());
    private ConfigKey Key => new(ConfigKind.Cluster, Id.Tenant, Id.Cluster);
    private string What => $"Cluster '{Id.Tenant}/{Id.Cluster}'";
    private ClusterState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (await writer.NewerThanAsync(Key, S.Revision) is not { } newer)
            return;
        if (newer.Json is null)
        {
            state.State = new ClusterState { Revision = newer.Revision };
        }
        else
        {
            var definition = ConfigWriter.FromJson<ClusterDefinition>(newer.Json);
            state.State = new ClusterState
            {
                Spec = definition.Spec,
                SpecRevision = newer.Revision,
                Revision = newer.Revision,
                Backends = definition.Backends.ToDictionary(b => b.Key, b => new BackendState { Spec = b.Value, Revision = newer.Revision }),
            };
        }
        await state.WriteStateAsync(cancellationToken);
    }

    public Task<ClusterResource?> Get() => Task.FromResult(S.Spec is { } spec ? new ClusterResource(Id.Tenant, Id.Cluster, spec, S.SpecRevision) : null);

    public async Task<WriteResult<ClusterResource>> Put(ClusterSpec spec, string? ifMatch)
    {
        var existing = S.Spec;
        ETags.Check(ifMatch, existing is null ? null : S.SpecRevision, What);
        if (existing is not null && ConfigWriter.ToJson(existing) == ConfigWriter.ToJson(spec))
            return new((await Get())!, S.SpecRevision, false);
        var backends = existing is null ? [] : S.Backends;
        var revision = await Commit(spec, backends);
        S.Spec = spec;
        S.SpecRevision = revision;
        S.Backends = backends;
        await Save(revision);
        return new(new ClusterResource(Id.Tenant, Id.Cluster, spec, revision), revision, existing is null);
    }

    public async Task<long> Delete(string? ifMatch)
    {
        if (S.Spec is null)
            throw AdminException.NotFound(What);
        ETags.Check(ifMatch, S.SpecRevision, What);
        // The cluster's verdicts go with it, in the same change, and its verdict grain forgets it, so a
        // cluster created again under this name starts Unknown.
        var revision = await writer.CommitToTenantPoolAsync(
            new ConfigEntry(Key, 0, null), new ConfigEntry(Key with { Kind = ConfigKind.BackendHealth }, 0, null));
        state.State = new ClusterState();
        await Save(revision);
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
        Task.FromResult(S.Spec is not null && S.Backends.TryGetValue(backend, out var b) ? ToResource(backend, b) : null);

    public Task<IReadOnlyList<BackendResource>> ListBackends() =>
        S.Spec is null
            ? throw AdminException.NotFound(What)
            : Task.FromResult<IReadOnlyList<BackendResource>>(S.Backends.OrderBy(b => b.Key, StringComparer.Ordinal).Select(b => ToResource(b.Key, b.Value)).ToList());

    public async Task<WriteResult<BackendResource>> PutBackend(string backend, BackendSpec spec, string? ifMatch)
    {
        var clusterSpec = S.Spec ?? throw AdminException.NotFound(What);
        S.Backends.TryGetValue(backend, out var existing);
        ETags.Check(ifMatch, existing?.Revision, $"Backend '{Id.Tenant}/{Id.Cluster}/{backend}'");
        if (existing is not null && existing.Spec == spec)
            return new(ToResource(backend, existing), existing.Revision, false);
        var backends = new Dictionary<string, BackendState>(S.Backends) { [backend] = new BackendState { Spec = spec } };
        var revision = await Commit(clusterSpec, backends);
        backends[backend].Revision = revision;
        S.Backends = backends;
        await Save(revision);
        return new(ToResource(backend, backends[backend]), revision, existing is null);
    }

    public async Task<long> DeleteBackend(string backend, string? ifMatch)
    {
        var clusterSpec = S.Spec ?? throw AdminException.NotFound(What);
        if (!S.Backends.TryGetValue(backend, out var existing))
            throw AdminException.NotFound($"Backend '{Id.Tenant}/{Id.Cluster}/{backend}'");
        ETags.Check(ifMatch, existing.Revision, $"Backend '{Id.Tenant}/{Id.Cluster}/{backend}'");
        var backends = new Dictionary<string, BackendState>(S.Backends);
        backends.Remove(backend);
        var revision = await Commit(clusterSpec, backends);
        S.Backends = backends;
        await Save(revision);
        return revision;
    }

    private async Task<long> Commit(ClusterSpec spec, Dictionary<string, BackendState> backends)
    {
        var definition = new ClusterDefinition
        {
            Spec = spec,
            Backends = new SortedDictionary<string, BackendSpec>(backends.ToDictionary(b => b.Key, b => b.Value.Spec), StringComparer.Ordinal),
        };
        return await writer.CommitToTenantPoolAsync(new ConfigEntry(Key, 0, ConfigWriter.ToJson(definition)));
    }

    private BackendResource ToResource(string backend, BackendState b) => new(Id.Tenant, Id.Cluster, backend, b.Spec, b.Revision);

    private async Task Save(long revision)
    {
        S.Revision = revision;
        await ConfigWriter.SaveAsync(state, DeactivateOnIdle);
    }
}
