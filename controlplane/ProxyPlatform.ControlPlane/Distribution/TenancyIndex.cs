using ProxyPlatform.Configuration;
using ProxyPlatform.Resources;
using ProxyPlatform.Routing;

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
/// each cluster's backends, what every tenant uses, and each tenant's routes by host and prefix for the
/// overlap analysis (<see cref="RouteIndex"/>). Kept up to date as entries are applied, so a
/// check reads a dictionary instead of parsing the pool.
/// </summary>
public sealed class TenancyIndex
{
    private readonly Dictionary<string, TenantSpec> _tenants = new(StringComparer.Ordinal);
    private readonly Dictionary<ResourceKey, RouteFacts> _routes = [];
    private readonly Dictionary<ResourceKey, IReadOnlyDictionary<string, BackendSpec>> _clusters = [];
    private readonly Dictionary<ResourceKey, IReadOnlyList<string>> _certificates = [];
    private readonly Dictionary<string, TenantUsage> _usage = new(StringComparer.Ordinal);
    // Each tenant's routes as the matching rules see them, and their specs (a change of the tenant's claims changes the hosts of routes that name none).
    private readonly Dictionary<string, RouteIndex> _routeIndexes = new(StringComparer.Ordinal);
    private readonly Dictionary<ResourceKey, RouteSpec> _routeSpecs = [];
    // Who claims each host name in this pool: one tenant, except where data older than the rule says otherwise.
    private readonly Dictionary<string, HashSet<string>> _claimants = new(StringComparer.Ordinal);

    /// <summary>The pool's own settings, or null while it has none (its limits are then unset).</summary>
    public PoolSpec? Pool { get; private set; }

    public TenantSpec? Tenant(string tenant) => _tenants.GetValueOrDefault(tenant);
    public RouteFacts? Route(ResourceKey route) => _routes.GetValueOrDefault(route);
    public IReadOnlyDictionary<string, BackendSpec>? Backends(ResourceKey cluster) => _clusters.GetValueOrDefault(cluster);
    public TenantUsage UsageOf(string tenant) => _usage.GetValueOrDefault(tenant) ?? new TenantUsage();
    public IEnumerable<KeyValuePair<ResourceKey, RouteFacts>> Routes => _routes;
    public IEnumerable<KeyValuePair<ResourceKey, IReadOnlyDictionary<string, BackendSpec>>> Clusters => _clusters;
    public IEnumerable<string> Tenants => _tenants.Keys;
    /// <summary>The tenant's committed routes by host and prefix; null when it has none.</summary>
    public RouteIndex? RoutesOf(string tenant) => _routeIndexes.GetValueOrDefault(tenant);
    /// <summary>Each certificate's names (normalized), which must stay within its tenant's claims.</summary>
    public IEnumerable<KeyValuePair<ResourceKey, IReadOnlyList<string>>> Certificates => _certificates;

    /// <summary>
    /// The tenants of this pool other than <paramref name="tenant"/> whose claims overlap
    /// <paramref name="host"/> (normalized): none, unless older data breaks the one-owner rule.
    /// </summary>
    public IEnumerable<string> OtherClaimants(string tenant, string host)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        void Add(string claim)
        {
            if (_claimants.TryGetValue(claim, out var owners))
                found.UnionWith(owners);
        }
        Add(host);
        // The wildcards above the host: "*.b.c" and "*.c" for "a.b.c" (and for "*.a.b.c").
        var name = HostNames.IsWildcard(host) ? host[2..] : host;
        for (var dot = name.IndexOf('.'); dot >= 0; dot = name.IndexOf('.', dot + 1))
            Add("*" + name[dot..]);
        if (HostNames.IsWildcard(host))
        {
            // The names below a wildcard: a scan, but wildcard routes are few.
            foreach (var (claim, owners) in _claimants)
            {
                if (HostNames.Covers(host, claim))
                    found.UnionWith(owners);
            }
        }
        found.Remove(tenant);
        return found;
    }

    public void Apply(ConfigEntry entry)
    {
        var key = entry.Key;
        switch (key.Kind)
        {
            case ResourceKind.Tenant:
                if (_tenants.Remove(key.Tenant, out var previous))
                    Claim(key.Tenant, previous.Hostnames, false);
                if (entry.Json is { } tenant)
                {
                    var spec = ConfigJson.Read<TenantSpec>(tenant);
                    _tenants[key.Tenant] = spec;
                    Claim(key.Tenant, spec.Hostnames, true);
                }
                IndexRoutesAgain(key.Tenant);
                break;
            case ResourceKind.Pool:
                Pool = entry.Json is { } pool ? ConfigJson.Read<PoolSpec>(pool) : null;
                break;
            case ResourceKind.Route:
                var wasRoute = _routes.Remove(key);
                _routeSpecs.Remove(key);
                if (entry.Json is { } route)
                {
                    var routeSpec = ConfigJson.Read<RouteSpec>(route);
                    _routes[key] = RouteFacts.Of(routeSpec);
                    _routeSpecs[key] = routeSpec;
                }
                IndexRoute(key);
                Count(key.Tenant, routes: (entry.Json is null ? 0 : 1) - (wasRoute ? 1 : 0));
                break;
            case ResourceKind.Certificate:
                _certificates.Remove(key);
                if (entry.Json is { } certificate)
                    _certificates[key] = ConfigJson.Read<CertificateBundle>(certificate).Names;
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

    private void IndexRoute(ResourceKey key)
    {
        if (!_routeIndexes.TryGetValue(key.Tenant, out var index))
            _routeIndexes[key.Tenant] = index = new RouteIndex();
        if (_routeSpecs.TryGetValue(key, out var spec))
            index.Put(RouteRules.Of(key, spec, _tenants.GetValueOrDefault(key.Tenant)?.Hostnames ?? []), spec.AllowShadowed);
        else
            index.Remove(key.QualifiedId);
        if (index.Count == 0)
            _routeIndexes.Remove(key.Tenant);
    }

    /// <summary>The tenant's claims changed: its routes that name no hosts now have others. A scan of its routes, as claims change seldom.</summary>
    private void IndexRoutesAgain(string tenant)
    {
        if (!_routeIndexes.TryGetValue(tenant, out var index))
            return;
        foreach (var name in index.Routes.Select(r => r.Id).ToList())
            IndexRoute(name);
    }

    private void Claim(string tenant, IEnumerable<string> hosts, bool add)
    {
        foreach (var host in hosts.Select(HostNames.Normalize))
        {
            if (add)
            {
                if (!_claimants.TryGetValue(host, out var owners))
                    _claimants[host] = owners = new HashSet<string>(StringComparer.Ordinal);
                owners.Add(tenant);
            }
            else if (_claimants.TryGetValue(host, out var owners) && owners.Remove(tenant) && owners.Count == 0)
            {
                _claimants.Remove(host);
            }
        }
    }

    private void Count(string tenant, int routes = 0, int clusters = 0, int backends = 0)
    {
        var usage = UsageOf(tenant);
        _usage[tenant] = usage with { Routes = usage.Routes + routes, Clusters = usage.Clusters + clusters, Backends = usage.Backends + backends };
    }
}
