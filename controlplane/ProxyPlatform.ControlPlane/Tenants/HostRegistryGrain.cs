using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Tenants;

/// <summary>
/// The platform's one serialisation point for host names (see <see cref="IHostRegistryGrain"/>). It
/// holds every tenant's claims, loaded from the tenants' committed rows in all pools, and commits each
/// tenant change itself, so a claim is checked and committed before the next one is looked at.
/// </summary>
/// <remarks>
/// Data written before one owner per host was enforced may break the rule: it keeps being served,
/// each conflict is logged when the grain activates (at start-up) and shown on the tenant's GET, and
/// a write that would keep or add an overlap is refused until an operator resolves it.
/// </remarks>
public sealed class HostRegistryGrain(ConfigStore store, ConfigCommits commits, IGrainFactory grains, ILogger<HostRegistryGrain> logger)
    : Grain, IHostRegistryGrain
{
    private readonly Dictionary<string, string[]> _claims = new(StringComparer.Ordinal);
    private List<HostConflict> _conflicts = [];

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var row in await store.ListAsync(ResourceKind.Tenant, null, cancellationToken))
            _claims[row.Key.Tenant] = Normalized(ConfigJson.Read<TenantSpec>(row.Json!).Hostnames);
        _conflicts = FindConflicts();
        foreach (var conflict in _conflicts)
            logger.LogWarning("Host ownership conflict from before one owner per host was enforced: {Conflict}; it is served as it is, and writes that touch it are refused until an operator resolves it", conflict.Describe());
        logger.LogInformation("Host registry loaded: {Tenants} tenants, {Conflicts} conflicts", _claims.Count, _conflicts.Count);
    }

    public Task<IReadOnlyList<HostConflict>> GetConflicts(string? tenant) =>
        Task.FromResult<IReadOnlyList<HostConflict>>(tenant is null ? _conflicts : _conflicts.Where(c => c.Tenant == tenant).ToList());

    public async Task<long> Commit(string tenant, string? fromPool, TenantSpec? spec)
    {
        try
        {
            if (spec is null)
            {
                var removed = await commits.CommitTenantAsync(fromPool!, new ConfigEntry(ResourceKey.OfTenant(tenant), 0, null));
                _claims.Remove(tenant);
                _conflicts = FindConflicts();
                return removed;
            }

            if (!await grains.GetGrain<IDataPlanePoolGrain>(spec.Pool).Exists())
                throw AdminException.Invalid("pool", $"pool '{spec.Pool}' does not exist; an operator creates it with PUT /v1/pools/{spec.Pool}.");
            var hosts = Normalized(spec.Hostnames);
            CheckClaims(tenant, hosts);
            if (fromPool is not null && fromPool != spec.Pool)
            {
                // Certificates would leave with the tenant's entry in its old pool (they go with it): refused instead.
                if (await store.ListAsync(ResourceKind.Certificate, tenant) is { Count: > 0 } certificates)
                    throw AdminException.Conflict(
                        $"Tenant '{tenant}' cannot move from pool '{fromPool}' to '{spec.Pool}' while it has certificates ({string.Join(", ", certificates.Take(10).Select(c => c.Key.Id))}); delete them first.");
                try
                {
                    await commits.CommitTenantAsync(fromPool, new ConfigEntry(ResourceKey.OfTenant(tenant), 0, null));
                }
                catch (AdminException ex) when (ex.Kind == AdminErrorKind.Conflict)
                {
                    throw AdminException.Conflict(
                        $"Tenant '{tenant}' cannot move from pool '{fromPool}' to '{spec.Pool}' while it has clusters or routes.");
                }
            }
            var revision = await commits.CommitTenantAsync(spec.Pool, new ConfigEntry(ResourceKey.OfTenant(tenant), 0, ConfigJson.Write(spec)));
            _claims[tenant] = hosts;
            if (_conflicts.Count > 0)
                _conflicts = FindConflicts();
            return revision;
        }
        catch (Exception ex) when (ex is not AdminException)
        {
            // The change may have been committed even so (a lost answer): reload the claims next time.
            DeactivateOnIdle();
            throw;
        }
    }

    /// <summary>Refuses claims that equal or overlap another tenant's, naming both.</summary>
    private void CheckClaims(string tenant, string[] hosts)
    {
        foreach (var host in hosts)
        {
            foreach (var (other, claims) in _claims)
            {
                if (other == tenant)
                    continue;
                foreach (var claim in claims)
                {
                    if (HostNames.Overlap(claim, host))
                        throw AdminException.Conflict(claim == host
                            ? $"Host '{host}' belongs to tenant '{other}': a host name has one owner across the platform."
                            : $"Host '{host}' overlaps '{claim}', which belongs to tenant '{other}': a host name has one owner across the platform.");
                }
            }
        }
    }

    private List<HostConflict> FindConflicts()
    {
        var conflicts = new List<HostConflict>();
        var tenants = _claims.Keys.Order(StringComparer.Ordinal).ToList();
        foreach (var tenant in tenants)
        {
            if (_claims[tenant].Length == 0)
                conflicts.Add(new HostConflict(tenant, null, null, null));
            foreach (var host in _claims[tenant])
            {
                foreach (var other in tenants.Where(t => t != tenant))
                {
                    foreach (var claim in _claims[other].Where(c => HostNames.Overlap(c, host)))
                        conflicts.Add(new HostConflict(tenant, host, other, claim));
                }
            }
        }
        return conflicts;
    }

    private static string[] Normalized(IEnumerable<string> hosts) => [.. hosts.Select(HostNames.Normalize).Distinct(StringComparer.Ordinal)];
}
