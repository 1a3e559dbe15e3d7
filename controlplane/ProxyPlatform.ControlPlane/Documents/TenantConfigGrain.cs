using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Backends;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Documents;

/// <summary>
/// Applies a tenant's configuration documents one at a time (see <see cref="ITenantConfigGrain"/>). It keeps no
/// state: it reads the tenant's committed clusters and routes, works out what differs, and commits all of it
/// as one change through the tenant's pool, whose sequencer checks quotas, host ownership, references and
/// shadowing over the whole change, so workers receive one revision and never half of it.
/// </summary>
/// <remarks>
/// The clusters' and the route table's grains hold the rows they committed; the apply commits around them, so
/// it tells them to read their rows again once it is committed. A single-resource write that reaches one of
/// them in between is judged against the row before the apply (its If-Match and "unchanged" check), as if it
/// had arrived just before the apply.
/// </remarks>
public sealed class TenantConfigGrain(ConfigHistory history, ConfigCommits commits, ILogger<TenantConfigGrain> logger) : Grain, ITenantConfigGrain
{
    private string Tenant => this.GetPrimaryKeyString();

    public async Task<ConfigApplyOutcome> Apply(ConfigEntry[] desired, string? ifMatch, bool dryRun)
    {
        var (current, _) = await history.CurrentAsync(Tenant);
        var etag = ConfigDocument.ETagOf(current);
        if (!ConfigDocument.Matches(ifMatch, etag))
            throw new AdminException(AdminErrorKind.PreconditionFailed, $"Tenant '{Tenant}''s configuration has ETag {etag}, not the one given in If-Match.");

        var now = current.ToDictionary(e => e.Key);
        var wanted = desired.ToDictionary(e => e.Key);
        var before = new List<ConfigEntry>();
        var after = new List<ConfigEntry>();
        var change = new List<ConfigEntry>();
        var keys = now.Keys.Union(wanted.Keys).OrderBy(k => k.Kind).ThenBy(k => k.Id, StringComparer.Ordinal);
        foreach (var key in keys)
        {
            var was = now.GetValueOrDefault(key);
            var will = wanted.GetValueOrDefault(key);
            if (was is not null && will is not null && ConfigDocument.Canonical(was) == ConfigDocument.Canonical(will))
                continue;
            before.Add(was ?? new ConfigEntry(key, 0, null));
            after.Add(will ?? new ConfigEntry(key, 0, null));
            if (key.Kind == ResourceKind.Cluster && will is null)
            {
                // As a cluster's own deletion: its verdicts go with it.
                change.Add(new ConfigEntry(key, 0, null));
                change.Add(new ConfigEntry(ResourceKey.HealthOf(Tenant, key.Id), 0, null));
            }
            else if (key.Kind == ResourceKind.Cluster)
                change.Add(will! with { Meta = ClusterGrain.MetaAfterApply(was, ConfigJson.Read<ClusterDefinition>(will!.Json!)) });
            else
                change.Add(new ConfigEntry(key, 0, will?.Json));
        }
        if (change.Count == 0)
            return new ConfigApplyOutcome(null, [], []);

        if (dryRun)
        {
            var pool = await GrainFactory.GetGrain<ITenantGrain>(Tenant).GetPool();
            await GrainFactory.GetGrain<IDistributionGrain>(pool).Check([.. change]);
            return new ConfigApplyOutcome(null, [.. before], [.. after]);
        }

        var revision = await commits.CommitAsync([.. change]);
        await TellGrainsAsync(after);
        return new ConfigApplyOutcome(revision, [.. before], [.. after]);
    }

    /// <summary>The grains that hold the changed resources read them again; a removed cluster's verdicts are forgotten.</summary>
    private async Task TellGrainsAsync(List<ConfigEntry> changed)
    {
        try
        {
            var routes = changed.Where(e => e.Key.Kind == ResourceKind.Route).Select(e => e.Key.Id).ToArray();
            var tasks = new List<Task>();
            if (routes.Length > 0)
                tasks.Add(GrainFactory.GetGrain<IRouteTableGrain>(Tenant).Reload(routes));
            foreach (var cluster in changed.Where(e => e.Key.Kind == ResourceKind.Cluster))
            {
                var key = GrainKeys.Of(Tenant, cluster.Key.Id);
                tasks.Add(GrainFactory.GetGrain<IClusterGrain>(key).Reload());
                if (cluster.IsRemoval)
                    tasks.Add(GrainFactory.GetGrain<IHealthVerdictGrain>(key).Reset());
            }
            await Task.WhenAll(tasks);
        }
        catch (Exception ex)
        {
            // The change is committed; a grain that missed it is corrected when it next activates.
            logger.LogError(ex, "Tenant {Tenant}: a configuration apply was committed, but telling the resources' grains failed", Tenant);
        }
    }
}
