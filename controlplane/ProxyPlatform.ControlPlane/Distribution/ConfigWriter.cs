using System.Collections.Concurrent;
using System.Text.Json;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Hosting;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// What resource grains share to publish a change: the JSON of the model, the pool's distribution
/// grain, and the committed row a grain loads or reconciles from when it activates.
/// </summary>
public sealed class ConfigWriter(IGrainFactory grains, GrainReferences<IDistributionGrain> pools, ConfigStore store)
{
    // Which pool serves a tenant, as this node last learnt it, so a write does not ask the tenant's
    // grain every time. A tenant moves to another pool only once it owns no cluster or route, and
    // its old pool then rejects a commit for it as "tenant not found": a stale entry costs one
    // retry and never puts a change in the wrong pool.
    private readonly ConcurrentDictionary<string, string> _poolOfTenant = new(StringComparer.Ordinal);

    public static string ToJson<T>(T spec) => JsonSerializer.Serialize(spec, ConfigJson.Options);

    public static T FromJson<T>(string json) => JsonSerializer.Deserialize<T>(json, ConfigJson.Options)!;

    /// <summary>Commits a tenant's own entry to <paramref name="pool"/> (the tenant's grain knows its pool).</summary>
    public async Task<long> CommitAsync(string pool, ConfigEntry entry)
    {
        var revision = await pools[pool].Commit([entry]);
        if (entry.Key.Kind == ConfigKind.Tenant)
        {
            if (entry.IsRemoval)
                _poolOfTenant.TryRemove(new KeyValuePair<string, string>(entry.Key.Tenant, pool));
            else
                _poolOfTenant[entry.Key.Tenant] = pool;
        }
        return revision;
    }

    /// <summary>
    /// Commits entries of resources that belong to one tenant (a cluster, a route, a cluster's verdicts)
    /// to the tenant's pool, as one change at one revision.
    /// </summary>
    public async Task<long> CommitToTenantPoolAsync(params ConfigEntry[] entries)
    {
        var tenant = entries[0].Key.Tenant;
        if (_poolOfTenant.TryGetValue(tenant, out var known))
        {
            try
            {
                return await pools[known].Commit(entries);
            }
            catch (AdminException ex) when (ex.Kind == AdminErrorKind.NotFound)
            {
                // Nothing was committed: the tenant left that pool, or was deleted. Ask its grain again.
                _poolOfTenant.TryRemove(new KeyValuePair<string, string>(tenant, known));
            }
        }
        var pool = await grains.GetGrain<ITenantGrain>(tenant).GetPool();
        _poolOfTenant[tenant] = pool;
        return await pools[pool].Commit(entries);
    }

    /// <summary>
    /// Persists a resource grain's state after its change was committed. If that write fails the
    /// change is still committed and distributed, so the grain deactivates: a fresh activation
    /// reconciles from the committed row (<see cref="NewerThanAsync"/>).
    /// </summary>
    public static async Task SaveAsync(Orleans.Core.IStorage state, Action deactivate)
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            deactivate();
            throw;
        }
    }

    /// <summary>
    /// The resource's newest committed row when it is newer than <paramref name="revision"/>: the
    /// grain's own state write can fail after the change was committed and distributed, and the
    /// committed change is the truth the data plane already serves.
    /// </summary>
    public async Task<ConfigEntry?> NewerThanAsync(ConfigKey key, long revision)
    {
        var latest = await store.GetLatestAsync(key);
        return latest is not null && latest.Revision > revision ? latest : null;
    }

    /// <summary>
    /// The resource as last committed: its spec (null when it does not exist) and the revision of
    /// its last change (0 when it never existed). Grains whose state is exactly that row load it
    /// from here instead of keeping a copy of their own.
    /// </summary>
    public async Task<(TSpec? Spec, long Revision)> LoadAsync<TSpec>(ConfigKey key, CancellationToken ct) where TSpec : class =>
        await store.GetLatestAsync(key, ct) is { } row
            ? (row.Json is null ? null : FromJson<TSpec>(row.Json), row.Revision)
            : (null, 0);
}
