using System.Text.Json;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// A pool's current resources with the indexes needed to check the invariants that span
/// resources: a route's cluster exists in its tenant, a cluster in use cannot be removed, a
/// tenant is empty before it is removed. Removals are kept as tombstones so deltas can name them.
/// </summary>
public sealed class ConfigSet
{
    private readonly Dictionary<ConfigKey, ConfigEntry> _entries = [];
    // (tenant, cluster) -> the routes that send to it
    private readonly Dictionary<(string Tenant, string Cluster), HashSet<string>> _routesByCluster = [];
    private readonly Dictionary<ConfigKey, string> _clusterOfRoute = [];

    public long Revision { get; private set; }

    public IEnumerable<ConfigEntry> Entries => _entries.Values;

    public bool Exists(ConfigKey key) => _entries.TryGetValue(key, out var e) && !e.IsRemoval;

    /// <summary>Rejects a change that would break an invariant; changes nothing.</summary>
    public void Check(IReadOnlyList<ConfigEntry> change)
    {
        foreach (var entry in change)
        {
            var (kind, tenant, id) = (entry.Key.Kind, entry.Key.Tenant, entry.Key.Id);
            var tenantKey = new ConfigKey(ConfigKind.Tenant, tenant, tenant);
            if (!entry.IsRemoval && kind != ConfigKind.Tenant && !Exists(tenantKey))
                throw AdminException.NotFound($"Tenant '{tenant}'");
            if (kind == ConfigKind.Route && !entry.IsRemoval)
            {
                var cluster = ClusterOf(entry);
                if (!Exists(new ConfigKey(ConfigKind.Cluster, tenant, cluster)))
                    throw AdminException.Invalid("cluster", $"tenant '{tenant}' has no cluster '{cluster}'; create the cluster first.");
            }
            if (kind == ConfigKind.Cluster && entry.IsRemoval
                && _routesByCluster.TryGetValue((tenant, id), out var routes) && routes.Count > 0)
                throw AdminException.Conflict(
                    $"Cluster '{tenant}/{id}' is used by route(s) {string.Join(", ", routes.Order().Take(10))}; delete or repoint them first.");
            if (kind == ConfigKind.Tenant && entry.IsRemoval)
            {
                var owned = _entries.Values.Count(e => !e.IsRemoval && e.Key.Tenant == tenant && e.Key.Kind != ConfigKind.Tenant);
                if (owned > 0)
                    throw AdminException.Conflict($"Tenant '{tenant}' still has {owned} cluster(s) or route(s); delete them first.");
            }
        }
    }

    public void Apply(ConfigEntry entry)
    {
        _entries[entry.Key] = entry;
        Revision = Math.Max(Revision, entry.Revision);
        if (entry.Key.Kind != ConfigKind.Route)
            return;
        if (_clusterOfRoute.Remove(entry.Key, out var previous))
            _routesByCluster[(entry.Key.Tenant, previous)].Remove(entry.Key.Id);
        if (entry.IsRemoval)
            return;
        var cluster = ClusterOf(entry);
        _clusterOfRoute[entry.Key] = cluster;
        if (!_routesByCluster.TryGetValue((entry.Key.Tenant, cluster), out var set))
            _routesByCluster[(entry.Key.Tenant, cluster)] = set = [];
        set.Add(entry.Key.Id);
    }

    /// <summary>The entries changed after <paramref name="revision"/>, removals included.</summary>
    public List<ConfigEntry> ChangedSince(long revision) => _entries.Values.Where(e => e.Revision > revision).ToList();

    private static string ClusterOf(ConfigEntry route) =>
        JsonSerializer.Deserialize<RouteSpec>(route.Json!, ConfigJson.Options)!.Cluster;
}
