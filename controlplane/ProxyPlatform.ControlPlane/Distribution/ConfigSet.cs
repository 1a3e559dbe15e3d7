using System.Text.Json;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// A pool's committed resources with the indexes needed to check the invariants that span
/// resources. Removals are kept as tombstones so deltas can name them.
/// </summary>
public sealed class ConfigSet
{
    private readonly Dictionary<ConfigKey, ConfigEntry> _entries = [];
    private readonly Dictionary<(string Tenant, string Cluster), HashSet<string>> _routesByCluster = [];
    private readonly Dictionary<ConfigKey, string> _clusterOfRoute = [];
    private readonly Dictionary<string, int> _ownedByTenant = [];

    public long Revision { get; private set; }

    public int Count => _entries.Count;

    public IEnumerable<ConfigEntry> Entries => _entries.Values;

    public ConfigEntry? Get(ConfigKey key) => _entries.GetValueOrDefault(key);

    public bool Exists(ConfigKey key) => _entries.TryGetValue(key, out var e) && !e.IsRemoval;

    public IReadOnlyCollection<string> RoutesOf(string tenant, string cluster) =>
        _routesByCluster.TryGetValue((tenant, cluster), out var routes) ? routes : [];

    public string? ClusterOfRoute(ConfigKey route) => _clusterOfRoute.GetValueOrDefault(route);

    /// <summary>How many live clusters and routes a tenant has (verdicts are part of their cluster and do not count).</summary>
    public int OwnedBy(string tenant) => _ownedByTenant.GetValueOrDefault(tenant);

    public void Apply(ConfigEntry entry)
    {
        var wasLive = Exists(entry.Key);
        _entries[entry.Key] = entry;
        Revision = Math.Max(Revision, entry.Revision);
        if (entry.Key.Kind is ConfigKind.Cluster or ConfigKind.Route && wasLive != !entry.IsRemoval)
            _ownedByTenant[entry.Key.Tenant] = OwnedBy(entry.Key.Tenant) + (entry.IsRemoval ? -1 : 1);
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

    public static string ClusterOf(ConfigEntry route) =>
        JsonSerializer.Deserialize<RouteSpec>(route.Json!, ConfigJson.Options)!.Cluster;
}

/// <summary>
/// Changes accepted for the next commit, staged over the committed set: each change is checked
/// against the set as the earlier changes of the batch leave it, without touching the set, so
/// nothing uncommitted is ever visible to readers.
/// </summary>
public sealed class ConfigBatch(ConfigSet committed)
{
    private readonly Dictionary<ConfigKey, ConfigEntry> _staged = [];

    public bool IsEmpty => _staged.Count == 0;

    /// <summary>Rejects a change that would break an invariant (and stages nothing); otherwise stages it.</summary>
    public void Stage(IReadOnlyList<ConfigEntry> change)
    {
        var before = new Dictionary<ConfigKey, ConfigEntry?>();
        try
        {
            foreach (var entry in change)
            {
                Check(entry);
                before.TryAdd(entry.Key, _staged.GetValueOrDefault(entry.Key));
                _staged[entry.Key] = entry;
            }
        }
        catch
        {
            foreach (var (key, previous) in before)
            {
                if (previous is null)
                    _staged.Remove(key);
                else
                    _staged[key] = previous;
            }
            throw;
        }
    }

    private void Check(ConfigEntry entry)
    {
        var (kind, tenant, id) = (entry.Key.Kind, entry.Key.Tenant, entry.Key.Id);
        if (!entry.IsRemoval && kind != ConfigKind.Tenant && !Exists(new ConfigKey(ConfigKind.Tenant, tenant, tenant)))
            throw AdminException.NotFound($"Tenant '{tenant}'");
        if (kind == ConfigKind.Route && !entry.IsRemoval)
        {
            var cluster = ConfigSet.ClusterOf(entry);
            if (!Exists(new ConfigKey(ConfigKind.Cluster, tenant, cluster)))
                throw AdminException.Invalid("cluster", $"tenant '{tenant}' has no cluster '{cluster}'; create the cluster first.");
        }
        // Verdicts follow their cluster: one for a cluster that is gone (a report racing its deletion) is dropped.
        if (kind == ConfigKind.BackendHealth && !entry.IsRemoval && !Exists(new ConfigKey(ConfigKind.Cluster, tenant, id)))
            throw AdminException.NotFound($"Cluster '{tenant}/{id}'");
        if (kind == ConfigKind.Cluster && entry.IsRemoval && RoutesOf(tenant, id) is { Count: > 0 } routes)
            throw AdminException.Conflict(
                $"Cluster '{tenant}/{id}' is used by route(s) {string.Join(", ", routes.Order(StringComparer.Ordinal).Take(10))}; delete or repoint them first.");
        if (kind == ConfigKind.Tenant && entry.IsRemoval && OwnedBy(tenant) is > 0 and var owned)
            throw AdminException.Conflict($"Tenant '{tenant}' still has {owned} cluster(s) or route(s); delete them first.");
    }

    private bool Exists(ConfigKey key) => _staged.TryGetValue(key, out var e) ? !e.IsRemoval : committed.Exists(key);

    private List<string> RoutesOf(string tenant, string cluster)
    {
        var routes = committed.RoutesOf(tenant, cluster)
            .Where(r => !_staged.ContainsKey(new ConfigKey(ConfigKind.Route, tenant, r)))
            .ToList();
        routes.AddRange(_staged.Values
            .Where(e => e.Key.Kind == ConfigKind.Route && e.Key.Tenant == tenant && !e.IsRemoval && ConfigSet.ClusterOf(e) == cluster)
            .Select(e => e.Key.Id));
        return routes;
    }

    private int OwnedBy(string tenant)
    {
        var owned = committed.OwnedBy(tenant);
        foreach (var e in _staged.Values)
        {
            if (e.Key.Tenant != tenant || e.Key.Kind is not (ConfigKind.Cluster or ConfigKind.Route))
                continue;
            owned += (committed.Exists(e.Key), e.IsRemoval) switch
            {
                (true, true) => -1,
                (false, false) => 1,
                _ => 0,
            };
        }
        return owned;
    }
}
