using ProxyPlatform.Configuration;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// Tells the grains that keep state about a resource outside the configuration (traffic series,
/// health views and verdicts) that it is gone, so they forget it rather than hold it forever. Judged
/// at the one place every change passes, the pool's commit, whatever path removed it: a route's
/// deletion, a cluster's, a backend dropped from its cluster.
/// </summary>
public sealed class ResourceRemovals(IGrainFactory grains, ILogger logger)
{
    /// <summary>Tells what <paramref name="after"/> removed of <paramref name="before"/> (the entry it replaces, if any).</summary>
    public void Tell(ConfigEntry? before, ConfigEntry after)
    {
        if (before is not { Json: { } beforeJson })
            return;
        var key = after.Key;
        try
        {
            switch (key.Kind)
            {
                case ResourceKind.Route when after.IsRemoval:
                    Forget(key.Tenant, [$"r/{key.Id}"]);
                    break;
                case ResourceKind.Cluster when after.IsRemoval:
                    // Every backend of the cluster; its verdict grain is reset by the cluster's own deletion.
                    Forget(key.Tenant, [$"b/{key.Id}/"]);
                    break;
                case ResourceKind.Cluster:
                    var dropped = ConfigJson.Read<ClusterDefinition>(beforeJson).Backends.Keys
                        .Except(ConfigJson.Read<ClusterDefinition>(after.Json!).Backends.Keys, StringComparer.Ordinal)
                        .ToArray();
                    if (dropped.Length == 0)
                        return;
                    Forget(key.Tenant, [.. dropped.Select(b => $"b/{key.Id}/{b}")]);
                    grains.GetGrain<IHealthVerdictGrain>(GrainKeys.Of(key.Tenant, key.Id)).ForgetBackends(dropped).Ignore();
                    break;
            }
        }
        catch (Exception ex)
        {
            // What is not forgotten now stays until its grain's own expiry; the change itself is committed.
            logger.LogWarning(ex, "Telling the grains that {Kind} {Tenant}/{Id} lost something failed", key.Kind, key.Tenant, key.Id);
        }
    }

    private void Forget(string tenant, string[] series) =>
        grains.GetGrain<ITenantMetricsGrain>(tenant).Forget(series).Ignore();
}
