using System.Collections.Immutable;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.DataPlane.RateLimiting;
using ProxyPlatform.DataPlane.Routing;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>What the worker serves at one revision: its routing table and its clusters.</summary>
public sealed class ProxyRuntime(long revision, RouteTable routes, ImmutableDictionary<ResourceKey, CompiledRoute> routeIndex, ImmutableDictionary<ResourceKey, ClusterRuntime> clusters)
{
    public static ProxyRuntime Empty { get; } = new(0, RouteTable.Empty, ImmutableDictionary<ResourceKey, CompiledRoute>.Empty, ImmutableDictionary<ResourceKey, ClusterRuntime>.Empty);

    public long Revision { get; } = revision;
    public RouteTable Routes { get; } = routes;
    public ImmutableDictionary<ResourceKey, CompiledRoute> RouteIndex { get; } = routeIndex;
    public ImmutableDictionary<ResourceKey, ClusterRuntime> Clusters { get; } = clusters;
}

/// <summary>A compiled update, ready to be served: <see cref="SnapshotCompiler.Commit"/> makes it live.</summary>
public sealed record CompiledUpdate(
    ProxyRuntime Runtime,
    IReadOnlyList<(ResourceKey Id, ClusterRuntime? Cluster, ClusterRuntime? Previous)> ClusterChanges,
    IReadOnlyDictionary<ResourceKey, ClusterSlot> NewSlots,
    int RouteChanges,
    IReadOnlyList<ResourceKey> RemovedRoutes);

/// <summary>The verdict on an update: the compiled runtime to serve, or why it cannot be served.</summary>
public sealed record SnapshotCompilation(CompiledUpdate? Update, string? Rejection)
{
    public bool IsValid => Update is not null;
}

/// <summary>
/// Turns an update into what the worker serves, or into a rejection naming the resources at fault.
/// Every changed spec passes the shared <see cref="ConfigValidator"/>; every route's tenant and
/// cluster exist; nothing asks for more than this worker allows. Only what the update changes is
/// validated and compiled: the routing table is updated for the routes it touches, clusters are
/// rebuilt for the clusters it touches, and a cluster change never touches the routing table.
/// </summary>
public sealed class SnapshotCompiler(DataPlaneOptions options, TrafficRegistry traffic)
{
    /// <summary>A NACK names this many problems at most; the rest are counted.</summary>
    private const int MaxReasons = 5;

    /// <summary>Each cluster's slot, shared by the routes that use it. Changed only by <see cref="Commit"/>.</summary>
    private readonly Dictionary<ResourceKey, ClusterSlot> _slots = [];

    public SnapshotCompilation Compile(ProxyRuntime runtime, ConfigSnapshot next, ConfigUpdate update)
    {
        var problems = new List<string>();
        var full = update.BaseRevision == 0;
        var (tenantKeys, clusterKeys, routeKeys) = full ? Everything(runtime, next) : Changes(runtime, next, update);

        foreach (var tenant in tenantKeys)
        {
            if (next.Tenants.TryGetValue(ResourceKey.OfTenant(tenant), out var spec))
                AddFieldErrors(problems, $"tenant {tenant}", ConfigValidator.Validate(spec.Spec));
        }

        var clusterChanges = new List<(ResourceKey, ClusterRuntime?, ClusterRuntime?)>();
        var clusters = runtime.Clusters.ToBuilder();
        var removedClusters = false;
        foreach (var id in clusterKeys)
        {
            if (!next.Clusters.TryGetValue(id, out var cluster))
            {
                removedClusters |= clusters.Remove(id);
                clusterChanges.Add((id, null, runtime.Clusters.GetValueOrDefault(id)));
                continue;
            }
            if (!next.Tenants.ContainsKey(ResourceKey.OfTenant(id.Tenant)))
                problems.Add($"{id}: tenant '{id.Tenant}' is not in the configuration.");
            var before = problems.Count;
            ValidateCluster(problems, id, cluster.Spec);
            if (problems.Count > before)
                continue;
            var built = ClusterRuntime.Build(id, cluster.Spec, next.Health.GetValueOrDefault(ResourceKey.HealthOf(id.Tenant, id.Id))?.Spec, runtime.Clusters.GetValueOrDefault(id), options.OutboundBindAddress, traffic);
            clusters[id] = built;
            clusterChanges.Add((id, built, runtime.Clusters.GetValueOrDefault(id)));
        }
        if (removedClusters && !full)
        {
            // A removed cluster must not be left behind by a route that did not change.
            foreach (var (id, route) in next.Routes)
            {
                if (!routeKeys.Contains(id) && !next.Clusters.ContainsKey(ResourceKey.OfCluster(id.Tenant, route.Spec.Cluster)))
                    problems.Add($"{id}: cluster: '{route.Spec.Cluster}' is not a cluster of tenant '{id.Tenant}'.");
            }
        }

        var pendingSlots = new Dictionary<ResourceKey, ClusterSlot>();
        var removed = new List<CompiledRoute>();
        var removedRoutes = new List<ResourceKey>();
        var added = new List<CompiledRoute>();
        var routeIndex = runtime.RouteIndex.ToBuilder();
        foreach (var id in routeKeys)
        {
            if (runtime.RouteIndex.TryGetValue(id, out var old))
                removed.Add(old);
            if (!next.Routes.TryGetValue(id, out var route))
            {
                if (routeIndex.Remove(id))
                    removedRoutes.Add(id);
                continue;
            }
            // Without its tenant a route would fall back to matching every host, not the tenant's.
            var tenant = next.Tenants.GetValueOrDefault(ResourceKey.OfTenant(id.Tenant));
            if (tenant is null)
                problems.Add($"{id}: tenant '{id.Tenant}' is not in the configuration.");
            var clusterId = ResourceKey.OfCluster(id.Tenant, route.Spec.Cluster ?? "");
            if (ConfigValidator.IsValidId(route.Spec.Cluster) && !next.Clusters.ContainsKey(clusterId))
                problems.Add($"{id}: cluster: '{route.Spec.Cluster}' is not a cluster of tenant '{id.Tenant}'.");
            var before = problems.Count;
            ValidateRoute(problems, id, route.Spec);
            if (problems.Count > before || tenant is null)
                continue;
            var slot = _slots.GetValueOrDefault(clusterId) ?? pendingSlots.GetValueOrDefault(clusterId);
            if (slot is null)
                pendingSlots[clusterId] = slot = new ClusterSlot(clusterId);
            var compiled = CompileRoute(id, route.Spec, tenant.Value.Spec, slot, traffic.Route(id, clusterId), options.RateLimitMaxKeys);
            routeIndex[id] = compiled;
            added.Add(compiled);
        }
        if (problems.Count > 0)
            return Rejected(problems);

        var routes = removed.Count + added.Count == 0 ? runtime.Routes : runtime.Routes.With(removed, added);
        return new SnapshotCompilation(new CompiledUpdate(
            new ProxyRuntime(next.Revision, routes, routeIndex.ToImmutable(), clusters.ToImmutable()),
            clusterChanges, pendingSlots, removed.Count + added.Count, removedRoutes), null);
    }

    /// <summary>Makes a compiled update's clusters live. The caller then publishes its runtime (and with it, its routes).</summary>
    public void Commit(CompiledUpdate update)
    {
        foreach (var (id, slot) in update.NewSlots)
            _slots.TryAdd(id, slot);
        foreach (var (id, cluster, previous) in update.ClusterChanges)
        {
            if (!_slots.TryGetValue(id, out var slot))
                _slots[id] = slot = new ClusterSlot(id);
            slot.Current = cluster;
            if (cluster is null && !update.Runtime.Clusters.ContainsKey(id))
                _slots.Remove(id);
            if (previous is not null && previous.Pool != cluster?.Pool)
                previous.Pool.Retire();
            // Backends no longer served: their counters are reported one last time, then dropped. A
            // backend ejected by its health verdict is still served (it may come back): its counters stay.
            foreach (var backend in previous?.Enabled ?? [])
            {
                if (cluster is null || Array.FindIndex(cluster.Enabled, b => b.Id == backend.Id) < 0)
                    traffic.RetireBackend(id, backend.Id);
            }
        }
        foreach (var route in update.RemovedRoutes)
            traffic.RetireRoute(route);
    }

    private static CompiledRoute CompileRoute(ResourceKey id, RouteSpec route, TenantSpec tenant, ClusterSlot cluster, TrafficSeries series, int rateLimitMaxKeys)
    {
        var match = route.Match ?? new RouteMatchSpec();
        // A route without hosts serves its tenant's host names; a tenant without any serves every host.
        var hosts = match.Hosts is { Count: > 0 } own ? own : tenant.Hostnames;
        return new CompiledRoute
        {
            Id = id,
            Name = id.QualifiedId,
            Cluster = cluster,
            Hosts = hosts.Select(h => h.ToLowerInvariant()).ToArray(),
            Prefix = NormalizePrefix(match.PathPrefix),
            Methods = [.. match.Methods],
            Headers = [.. match.Headers.OrderBy(h => h.Key, StringComparer.Ordinal)],
            Priority = route.Priority,
            StripPrefix = route.StripPrefix,
            PreserveHost = route.PreserveHost,
            Timeout = route.TimeoutSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            MaxRequestBodyBytes = route.MaxRequestBodyBytes,
            Traffic = series.Counters,
            RateLimit = route.RateLimit is { } limit
                ? new TokenBucketLimiter(limit.RequestsPerSecond, limit.Burst, limit.Key.StartsWith("header:", StringComparison.Ordinal) ? limit.Key["header:".Length..] : null, rateLimitMaxKeys)
                : null,
        };
    }

    /// <summary>
    /// The prefix as requests are matched against it: percent-decoded the way the server decodes
    /// request paths (all but <c>%2F</c>), without its trailing slash (<c>/api/</c> is <c>/api</c>);
    /// <c>/</c> stays <c>/</c>. A prefix ends on a segment boundary: <c>/api</c> matches <c>/api</c>,
    /// <c>/api/</c> and <c>/api/x</c>, not <c>/apix</c>.
    /// </summary>
    public static string NormalizePrefix(string? pathPrefix)
    {
        var decoded = PathString.FromUriComponent(pathPrefix ?? "/").Value ?? "/";
        var trimmed = decoded.TrimEnd('/');
        return trimmed.Length == 0 ? "/" : trimmed;
    }

    private static (IReadOnlyCollection<string>, IReadOnlyCollection<ResourceKey>, IReadOnlyCollection<ResourceKey>) Everything(ProxyRuntime runtime, ConfigSnapshot next)
    {
        var clusters = new HashSet<ResourceKey>(next.Clusters.Keys);
        clusters.UnionWith(runtime.Clusters.Keys);
        var routes = new HashSet<ResourceKey>(next.Routes.Keys);
        routes.UnionWith(runtime.RouteIndex.Keys);
        return ([.. next.Tenants.Keys.Select(t => t.Tenant)], clusters, routes);
    }

    private static (IReadOnlyCollection<string>, IReadOnlyCollection<ResourceKey>, IReadOnlyCollection<ResourceKey>) Changes(ProxyRuntime runtime, ConfigSnapshot next, ConfigUpdate update)
    {
        var tenants = new HashSet<string>();
        var clusters = new HashSet<ResourceKey>();
        var routes = new HashSet<ResourceKey>();
        // What the worker builds from each kind: this is each kind's own code, the one place that lists them.
        foreach (var wire in update.Upserts.Select(u => u.Key).Concat(update.Removals))
        {
            var key = new ResourceKey((ResourceKind)(int)wire.Kind, wire.Tenant, wire.Id);
            switch (key.Kind)
            {
                case ResourceKind.Tenant:
                    tenants.Add(key.Tenant);
                    break;
                case ResourceKind.Cluster:
                    clusters.Add(key);
                    break;
                case ResourceKind.Route:
                    routes.Add(key);
                    break;
                case ResourceKind.BackendHealth:
                    // New verdicts rebuild the cluster's state only: its slot is swapped, routes are untouched.
                    var cluster = ResourceKey.OfCluster(key.Tenant, key.Id);
                    if (next.Clusters.ContainsKey(cluster) || runtime.Clusters.ContainsKey(cluster))
                        clusters.Add(cluster);
                    break;
            }
        }
        if (tenants.Count > 0)
        {
            // A tenant's host names are its routes' hosts: its routes are compiled again (tenant changes are rare).
            foreach (var id in next.Routes.Keys.Concat(runtime.RouteIndex.Keys))
            {
                if (tenants.Contains(id.Tenant))
                    routes.Add(id);
            }
            foreach (var id in next.Clusters.Keys)
            {
                if (tenants.Contains(id.Tenant) && !next.Tenants.ContainsKey(ResourceKey.OfTenant(id.Tenant)))
                    clusters.Add(id);
            }
        }
        return (tenants, clusters, routes);
    }

    private static void ValidateCluster(List<string> problems, ResourceKey id, ClusterDefinition cluster)
    {
        var name = id.ToString();
        AddFieldErrors(problems, name, ConfigValidator.Validate(cluster.Spec));
        foreach (var (backendId, backend) in cluster.Backends)
        {
            if (!ConfigValidator.IsValidId(backendId))
                problems.Add($"{name}: backends: '{backendId}' is not a valid backend ID.");
            foreach (var error in ConfigValidator.Validate(backend))
                problems.Add($"{name}: backends.{backendId}.{error.Field}: {error.Message}");
        }
    }

    private void ValidateRoute(List<string> problems, ResourceKey id, RouteSpec route)
    {
        var name = id.ToString();
        AddFieldErrors(problems, name, ConfigValidator.Validate(route));
        if (route.MaxRequestBodyBytes > options.MaxRequestBodyBytes)
            problems.Add($"{name}: maxRequestBodyBytes: {route.MaxRequestBodyBytes} is more than this worker allows ({options.MaxRequestBodyBytes}, Proxy:MaxRequestBodyBytes).");
    }

    private static void AddFieldErrors(List<string> problems, string name, IReadOnlyList<FieldError> errors)
    {
        foreach (var error in errors)
            problems.Add(error.Field.Length == 0 ? $"{name}: {error.Message}" : $"{name}: {error.Field}: {error.Message}");
    }

    private static SnapshotCompilation Rejected(List<string> problems)
    {
        var reason = string.Join("; ", problems.Take(MaxReasons));
        if (problems.Count > MaxReasons)
            reason += $"; and {problems.Count - MaxReasons} more";
        return new SnapshotCompilation(null, reason);
    }
}
