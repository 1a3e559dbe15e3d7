using System.Collections.Concurrent;
using ProxyPlatform.ControlPlane.Hosting;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// Commits configuration changes to the pool that serves them, through the pool's distribution grain:
/// a tenant's own entry to the pool its grain names, every other resource to its tenant's pool.
/// </summary>
public sealed class ConfigCommits(GrainReferences<ITenantGrain> tenants, GrainReferences<IDistributionGrain> pools)
{
    // Which pool serves a tenant, as this node last learnt it, so a write does not ask the tenant's
    // grain every time. A tenant moves to another pool only once it owns no cluster or route, and
    // its old pool then rejects a commit for it as "tenant not found": a stale entry costs one
    // retry and never puts a change in the wrong pool.
    private readonly ConcurrentDictionary<string, string> _poolOfTenant = new(StringComparer.Ordinal);

    /// <summary>Commits a tenant's own entry to <paramref name="pool"/> (the tenant's grain knows its pool).</summary>
    public async Task<long> CommitTenantAsync(string pool, ConfigEntry entry)
    {
        var revision = await pools[pool].Commit([entry]);
        if (entry.IsRemoval)
            _poolOfTenant.TryRemove(new KeyValuePair<string, string>(entry.Key.Tenant, pool));
        else
            _poolOfTenant[entry.Key.Tenant] = pool;
        return revision;
    }

    /// <summary>
    /// Commits entries of resources that belong to one tenant (a cluster, a route, a cluster's verdicts)
    /// to the tenant's pool, as one change at one revision.
    /// </summary>
    public async Task<long> CommitAsync(params ConfigEntry[] entries)
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
        var pool = await tenants[tenant].GetPool();
        _poolOfTenant[tenant] = pool;
        return await pools[pool].Commit(entries);
    }
}
