using ProxyPlatform.Configuration;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>What the tenancy rules read of a route: the hosts it names and the body size it allows.</summary>
public sealed record RouteFacts(string[] Hosts, long? MaxRequestBodyBytes)
{
    public static RouteFacts Of(RouteSpec route) =>
        new([.. (route.Match?.Hosts ?? []).Select(HostNames.Normalize)], route.MaxRequestBodyBytes);
}

/// <summary>
/// The committed facts of a pool that the tenancy rules need (<see cref="TenancyRules"/>): each
/// tenant's spec (claims, quotas), the pool's own settings (limits), each route's hosts and body limit,
/// each cluster's backends, and what every tenant uses. Kept up to date as entries are applied, so a
/// check reads a dictionary instead of parsing the pool.
/// </summary>
public sealed class TenancyIndex
{
    private readonly Dictionary<string, TenantSpec> _tenants = new(StringComparer.Ordinal);
    private readonly Dictionary<ResourceKey, RouteFacts> _routes = [];
    private readonly Dictionary<ResourceKey, IReadOnlyDictionary<string, BackendSpec>> _clusters = [];
    private readonly Dictionary<string, TenantUsage> _usage = new(StringComparer.Ordinal);

    /// <summary>The pool's own settings, or null while it has none (its limits are then unset).</summary>
    public PoolSpec? Pool { get; private set; }

    public TenantSpec? Tenant(string tenant) => _tenants.GetValueOrDefault(tenant);
    public RouteFacts? Route(ResourceKey route) => _routes.GetValueOrDefault(route);
    public IReadOnlyDictionary<string, BackendSpec>? Backends(ResourceKey cluster) => _clusters.GetValueOrDefault(cluster);
    public TenantUsage UsageOf(string tenant) => _usage.GetValueOrDefault(tenant) ?? new TenantUsage();
    public IEnumerable<KeyValuePair<ResourceKey, RouteFacts>> Routes => _routes;
    public IEnumerable<KeyValuePair<ResourceKey, IReadOnlyDictionary<string, BackendSpec>>> Clusters => _clusters;

    public void Apply(ConfigEntry entry)
    {
        var key = entry.Key;
        switch (key.Kind)
        {
            case ResourceKind.Tenant:
                if (entry.Json is { } tenant)
                    _tenants[key.Tenant] = ConfigJson.Read<TenantSpec>(tenant);
                else
                    _tenants.Remove(key.Tenant);
                break;
            case ResourceKind.Pool:
                Pool = entry.Json is { } pool ? ConfigJson.Read<PoolSpec>(pool) : null;
                break;
            case ResourceKind.Route:
                var wasRoute = _routes.Remove(key);
                if (entry.Json is { } route)
                    _routes[key] = RouteFacts.Of(ConfigJson.Read<RouteSpec>(route));
                Count(key.Tenant, routes: (entry.Json is null ? 0 : 1) - (wasRoute ? 1 : 0));
                break;
            case ResourceKind.Cluster:
                var before = _clusters.Remove(key, out var old) ? old : null;
                if (entry.Json is { } cluster)
                    _clusters[key] = ConfigJson.Read<ClusterDefinition>(cluster).Backends;
                Count(key.Tenant,
                    clusters: (entry.Json is null ? 0 : 1) - (before is null ? 0 : 1),
                    backends: (_clusters.GetValueOrDefault(key)?.Count ?? 0) - (before?.Count ?? 0));
                break;
        }
    }

    private void Count(string tenant, int routes = 0, int clusters = 0, int backends = 0)
    {
        var usage = UsageOf(tenant);
        _usage[tenant] = usage with { Routes = usage.Routes + routes, Clusters = usage.Clusters + clusters, Backends = usage.Backends + backends };
    }
}
