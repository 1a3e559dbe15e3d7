using System.Collections.Immutable;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.DataPlane.RateLimiting;
using ProxyPlatform.DataPlane.Routing;
using ProxyPlatform.DataPlane.Tls;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Resources;
using ProxyPlatform.Routing;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>What the worker serves at one revision: its routing table, its clusters and its certificates.</summary>
public sealed class ProxyRuntime(long revision, RouteTable routes, ImmutableDictionary<ResourceKey, CompiledRoute> routeIndex, ImmutableDictionary<ResourceKey, ClusterRuntime> clusters)
{
    public static ProxyRuntime Empty { get; } = new(0, RouteTable.Empty, ImmutableDictionary<ResourceKey, CompiledRoute>.Empty, ImmutableDictionary<ResourceKey, ClusterRuntime>.Empty);

    public long Revision { get; } = revision;
    public RouteTable Routes { get; } = routes;
    public ImmutableDictionary<ResourceKey, CompiledRoute> RouteIndex { get; } = routeIndex;
    public ImmutableDictionary<ResourceKey, ClusterRuntime> Clusters { get; } = clusters;
    /// <summary>The certificates the TLS listener presents, by server name.</summary>
    public CertificateIndex Certificates { get; init; } = CertificateIndex.Empty;
}

/// <summary>A compiled update, ready to be served: <see cref="SnapshotCompiler.Commit"/> makes it live.</summary>
public sealed record CompiledUpdate(
    ProxyRuntime Runtime,
    IReadOnlyList<(ResourceKey Id, ClusterRuntime? Cluster, ClusterRuntime? Previous)> ClusterChanges,
    IReadOnlyDictionary<ResourceKey, ClusterSlot> NewSlots,
    int RouteChanges,
    IReadOnlyList<ResourceKey> RemovedRoutes,
    PoolLimits? Limits = null);

/// <summary>
/// An update as the worker will serve it: the compiled runtime, the snapshot it serves (where a
/// rejected resource keeps the version served before, or is absent), and the resources rejected.
/// </summary>
public sealed record SnapshotCompilation(CompiledUpdate Update, ConfigSnapshot Next, IReadOnlyList<ResourceRejection> Rejected);

/// <summary>
/// Turns an update into what the worker serves. Every changed spec passes the shared
/// <see cref="ConfigValidator"/> and the pool's limits (<see cref="PoolLimitsCheck"/>); every route's
/// tenant and cluster exist; nothing asks for more than this worker allows. A resource that fails is
/// rejected alone: the worker keeps serving its last good version (or nothing, when it never had
/// one) and applies the rest; an exception while compiling one tenant's routes rejects that tenant's
/// changed routes alone. Only what the update changes is validated and compiled: the routing table
/// is updated for the routes it touches, clusters are rebuilt for the clusters it touches, and a
/// cluster change never touches the routing table.
/// </summary>
public sealed class SnapshotCompiler(DataPlaneOptions options, TrafficRegistry traffic, BackendConnector connector)
{
    /// <summary>Each cluster's slot, shared by the routes that use it. Changed only by <see cref="Commit"/>.</summary>
    private readonly Dictionary<ResourceKey, ClusterSlot> _slots = [];

    /// <summary>
    /// Called as each route is compiled. Every input the validator lets through compiles; tests make
    /// this throw to show that a failure no input can cause yet stays with its tenant.
    /// </summary>
    internal Action<ResourceKey>? RouteCompiling { get; set; }

    /// <summary>
    /// Compiles <paramref name="next"/>, the snapshot <paramref name="update"/> makes of
    /// <paramref name="current"/>, on top of <paramref name="runtime"/>; <paramref name="unreadable"/>
    /// are the update's resources that could not even be read.
    /// </summary>
    public SnapshotCompilation Compile(ProxyRuntime runtime, ConfigSnapshot current, ConfigSnapshot next, ConfigUpdate update, IReadOnlyList<ResourceRejection> unreadable)
    {
        var full = update.BaseRevision == 0;
        var (tenantKeys, clusterKeys, routeKeys, certificateKeys) = full ? Everything(runtime, next) : Changes(runtime, next, update);
        var rejected = new List<ResourceRejection>(unreadable);

        // The pool first: its limits judge everything else.
        var poolKey = ResourceKey.OfPool(options.Pool);
        if (next.Pools.TryGetValue(poolKey, out var pool) && Problems(poolKey, ConfigValidator.Validate(pool.Spec)) is { } badPool)
        {
            rejected.Add(new ResourceRejection(poolKey, pool.Revision, badPool));
            next = next.Reverted([poolKey], current);
        }
        var limits = next.Pools.GetValueOrDefault(poolKey)?.Spec.Limits;

        var badTenants = new List<ResourceKey>();
        foreach (var tenant in tenantKeys)
        {
            var key = ResourceKey.OfTenant(tenant);
            if (next.Tenants.TryGetValue(key, out var spec) && Problems(key, ConfigValidator.Validate(spec.Spec)) is { } problem)
            {
                rejected.Add(new ResourceRejection(key, spec.Revision, problem));
                badTenants.Add(key);
            }
        }
        next = next.Reverted(badTenants, current);

        var clusterChanges = new List<(ResourceKey, ClusterRuntime?, ClusterRuntime?)>();
        var clusters = runtime.Clusters.ToBuilder();
        var badClusters = new List<ResourceKey>();
        foreach (var id in clusterKeys)
        {
            if (!next.Clusters.TryGetValue(id, out var cluster))
            {
                if (clusters.Remove(id))
                    clusterChanges.Add((id, null, runtime.Clusters.GetValueOrDefault(id)));
                continue;
            }
            var problems = new List<string>();
            if (!next.Tenants.ContainsKey(ResourceKey.OfTenant(id.Tenant)))
                problems.Add($"{id}: tenant '{id.Tenant}' is not in the configuration.");
            ValidateCluster(problems, id, cluster.Spec, limits);
            ClusterRuntime? built = null;
            if (problems.Count == 0)
            {
                try
                {
                    built = ClusterRuntime.Build(id, cluster.Spec, next.Health.GetValueOrDefault(ResourceKey.HealthOf(id.Tenant, id.Id))?.Spec, runtime.Clusters.GetValueOrDefault(id), connector, traffic);
                }
                catch (Exception ex)
                {
                    problems.Add($"{id}: it could not be compiled: {ex.Message}");
                }
            }
            if (built is null)
            {
                rejected.Add(new ResourceRejection(id, cluster.Revision, Joined(problems)));
                badClusters.Add(id);
                continue;
            }
            clusters[id] = built;
            clusterChanges.Add((id, built, runtime.Clusters.GetValueOrDefault(id)));
        }
        next = next.Reverted(badClusters, current);

        var pendingSlots = new Dictionary<ResourceKey, ClusterSlot>();
        var removed = new List<CompiledRoute>();
        var removedRoutes = new List<ResourceKey>();
        var added = new List<CompiledRoute>();
        var routeIndex = runtime.RouteIndex.ToBuilder();
        var badRoutes = new List<ResourceKey>();
        foreach (var tenantRoutes in routeKeys.GroupBy(k => k.Tenant, StringComparer.Ordinal))
        {
            // One tenant's routes change together or not at all when compiling them fails: the
            // exception is that tenant's alone, and every other tenant's changes are applied.
            var (tenantRemoved, tenantAdded, tenantRejected, tenantSlots) = (new List<CompiledRoute>(), new List<CompiledRoute>(), new List<ResourceRejection>(), new Dictionary<ResourceKey, ClusterSlot>());
            try
            {
                foreach (var id in tenantRoutes)
                {
                    RouteCompiling?.Invoke(id);
                    var old = runtime.RouteIndex.GetValueOrDefault(id);
                    if (!next.Routes.TryGetValue(id, out var route))
                    {
                        if (old is not null)
                            tenantRemoved.Add(old);
                        continue;
                    }
                    var problems = new List<string>();
                    var tenant = next.Tenants.GetValueOrDefault(ResourceKey.OfTenant(id.Tenant));
                    if (tenant is null)
                        problems.Add($"{id}: tenant '{id.Tenant}' is not in the configuration.");
                    var clusterId = ResourceKey.OfCluster(id.Tenant, route.Spec.Cluster ?? "");
                    if (ConfigValidator.IsValidId(route.Spec.Cluster) && !next.Clusters.ContainsKey(clusterId))
                        problems.Add($"{id}: cluster: '{route.Spec.Cluster}' is not a cluster of tenant '{id.Tenant}'.");
                    ValidateRoute(problems, id, route.Spec, limits);
                    if (problems.Count > 0 || tenant is null)
                    {
                        tenantRejected.Add(new ResourceRejection(id, route.Revision, Joined(problems)));
                        continue;
                    }
                    var slot = _slots.GetValueOrDefault(clusterId) ?? pendingSlots.GetValueOrDefault(clusterId) ?? tenantSlots.GetValueOrDefault(clusterId);
                    if (slot is null)
                        tenantSlots[clusterId] = slot = new ClusterSlot(clusterId);
                    if (old is not null)
                        tenantRemoved.Add(old);
                    tenantAdded.Add(CompileRoute(id, route.Spec, tenant.Value.Spec, slot, traffic.Route(id, clusterId), options.RateLimitMaxKeys));
                }
            }
            catch (Exception ex)
            {
                // Removals too: the tenant's routes stay exactly as they were served.
                (tenantRemoved, tenantAdded, tenantSlots) = ([], [], []);
                tenantRejected = [.. tenantRoutes.Select(id => new ResourceRejection(id, next.Routes.GetValueOrDefault(id)?.Revision ?? update.Revision,
                    $"{id}: the routes of tenant '{id.Tenant}' could not be compiled: {ex.Message}"))];
            }
            foreach (var route in tenantRemoved)
            {
                routeIndex.Remove(route.Id);
                if (!next.Routes.ContainsKey(route.Id))
                    removedRoutes.Add(route.Id);
            }
            foreach (var route in tenantAdded)
                routeIndex[route.Id] = route;
            foreach (var (id, slot) in tenantSlots)
                pendingSlots[id] = slot;
            removed.AddRange(tenantRemoved);
            added.AddRange(tenantAdded);
            rejected.AddRange(tenantRejected);
            badRoutes.AddRange(tenantRejected.Select(r => r.Key));
        }
        next = next.Reverted(badRoutes, current);

        // A cluster that a served route still uses stays: the route may be one whose change was
        // rejected, and keeps its last good version, with the cluster that version sends to.
        var keptClusters = new List<ResourceKey>();
        foreach (var (id, built, previous) in clusterChanges)
        {
            if (built is null && previous is not null && routeIndex.Values.FirstOrDefault(r => r.Cluster.Id == id) is { } user)
            {
                rejected.Add(new ResourceRejection(id, update.Revision, $"{id}: it cannot be removed while route {user.Id.QualifiedId} sends to it."));
                clusters[id] = previous;
                keptClusters.Add(id);
            }
        }
        if (keptClusters.Count > 0)
        {
            clusterChanges.RemoveAll(c => keptClusters.Contains(c.Item1));
            next = next.Reverted(keptClusters, current);
        }

        var certificates = runtime.Certificates.ById.ToBuilder();
        var badCertificates = new List<ResourceKey>();
        foreach (var id in certificateKeys)
        {
            if (!next.Certificates.TryGetValue(id, out var certificate))
            {
                certificates.Remove(id);
                continue;
            }
            if (!next.Tenants.ContainsKey(ResourceKey.OfTenant(id.Tenant)))
            {
                rejected.Add(new ResourceRejection(id, certificate.Revision, $"{id}: tenant '{id.Tenant}' is not in the configuration."));
                badCertificates.Add(id);
                continue;
            }
            try
            {
                certificates[id] = ServedCertificate.Compile(id, certificate.Revision, certificate.Spec);
            }
            catch (Exception ex)
            {
                // The message never quotes the key: ServedCertificate's own messages do not, and the
                // platform's PEM and X.509 readers name what failed, not the bytes.
                rejected.Add(new ResourceRejection(id, certificate.Revision, $"{id}: it could not be compiled: {ex.Message}"));
                badCertificates.Add(id);
            }
        }
        next = next.Reverted(badCertificates, current);
        foreach (var id in badCertificates)
        {
            // The version served before, if any, keeps being served.
            if (runtime.Certificates.ById.TryGetValue(id, out var served))
                certificates[id] = served;
            else
                certificates.Remove(id);
        }

        var routes = runtime.Routes.WithClaims(Claims(runtime, next, tenantKeys, full));
        if (removed.Count + added.Count > 0)
            routes = routes.With(removed, added);
        return new SnapshotCompilation(new CompiledUpdate(
            new ProxyRuntime(next.Revision, routes, routeIndex.ToImmutable(), clusters.ToImmutable())
            {
                Certificates = certificateKeys.Count == 0 ? runtime.Certificates : runtime.Certificates.With(certificates.ToImmutable()),
            },
            clusterChanges, pendingSlots, removed.Count + added.Count, removedRoutes, next.Pools.GetValueOrDefault(poolKey)?.Spec.Limits), next, rejected);
    }

    /// <summary>Makes a compiled update's clusters live. The caller then publishes its runtime (and with it, its routes).</summary>
    public void Commit(CompiledUpdate update)
    {
        // Connections opened from now on are held to the pool's limits; open ones were checked when they were made.
        connector.AllowedNetworks = update.Limits?.AllowedBackendNetworks;
        connector.ClientCertificates = update.Runtime.Certificates;
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
        return new CompiledRoute(RouteRules.Of(id, route, tenant.Hostnames), cluster)
        {
            StripPrefix = route.StripPrefix,
            PreserveHost = route.PreserveHost,
            Timeout = route.TimeoutSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            MaxRequestBodyBytes = route.MaxRequestBodyBytes,
            HttpsRedirect = route.HttpsRedirect,
            Hsts = route.Hsts?.HeaderValue(),
            Traffic = series.Counters,
            RateLimit = route.RateLimit is { } limit
                ? new TokenBucketLimiter(limit.RequestsPerSecond, limit.Burst, limit.Key.StartsWith("header:", StringComparison.Ordinal) ? limit.Key["header:".Length..] : null, rateLimitMaxKeys)
                : null,
        };
    }

    /// <inheritdoc cref="RouteRules.NormalizePrefix"/>
    public static string NormalizePrefix(string? pathPrefix) => RouteRules.NormalizePrefix(pathPrefix);

    /// <summary>
    /// The host names each changed tenant now claims (none once it is gone); with a full snapshot every
    /// tenant's, and none for the tenants the snapshot no longer holds.
    /// </summary>
    private static Dictionary<string, IReadOnlyList<string>> Claims(ProxyRuntime runtime, ConfigSnapshot next, IEnumerable<string> tenants, bool full)
    {
        var claims = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        if (full)
        {
            foreach (var gone in runtime.Routes.ClaimingTenants)
                claims[gone] = [];
        }
        foreach (var tenant in tenants)
        {
            claims[tenant] = !next.Tenants.TryGetValue(ResourceKey.OfTenant(tenant), out var spec) ? []
                : spec.Spec.Hostnames.Count == 0 ? [RouteTable.UnclaimedHosts]
                : [.. spec.Spec.Hostnames.Select(HostNames.Normalize).Distinct(StringComparer.Ordinal)];
        }
        return claims;
    }

    private static (IReadOnlyCollection<string>, IReadOnlyCollection<ResourceKey>, IReadOnlyCollection<ResourceKey>, IReadOnlyCollection<ResourceKey>) Everything(ProxyRuntime runtime, ConfigSnapshot next)
    {
        var clusters = new HashSet<ResourceKey>(next.Clusters.Keys);
        clusters.UnionWith(runtime.Clusters.Keys);
        var routes = new HashSet<ResourceKey>(next.Routes.Keys);
        routes.UnionWith(runtime.RouteIndex.Keys);
        // A certificate whose version did not change keeps its compiled form: only new versions are compiled.
        var certificates = new HashSet<ResourceKey>(runtime.Certificates.ById.Keys.Where(k => !next.Certificates.ContainsKey(k)));
        foreach (var (id, certificate) in next.Certificates)
        {
            if (!runtime.Certificates.ById.TryGetValue(id, out var served) || served.Revision != certificate.Revision)
                certificates.Add(id);
        }
        return ([.. next.Tenants.Keys.Select(t => t.Tenant)], clusters, routes, certificates);
    }

    private static (IReadOnlyCollection<string>, IReadOnlyCollection<ResourceKey>, IReadOnlyCollection<ResourceKey>, IReadOnlyCollection<ResourceKey>) Changes(ProxyRuntime runtime, ConfigSnapshot next, ConfigUpdate update)
    {
        var tenants = new HashSet<string>();
        var clusters = new HashSet<ResourceKey>();
        var routes = new HashSet<ResourceKey>();
        var certificates = new HashSet<ResourceKey>();
        var pool = false;
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
                case ResourceKind.Pool:
                    // New limits judge every route and cluster again (pool changes are rare); one beyond
                    // them is reported, and keeps the version the worker served.
                    pool = true;
                    break;
                case ResourceKind.Certificate:
                    // Compiled for the TLS listener's index; routing is untouched (the index asks the routing table who owns a host).
                    certificates.Add(key);
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
        if (pool)
        {
            clusters.UnionWith(next.Clusters.Keys);
            routes.UnionWith(next.Routes.Keys);
        }
        return (tenants, clusters, routes, certificates);
    }

    private static void ValidateCluster(List<string> problems, ResourceKey id, ClusterDefinition cluster, PoolLimits? limits)
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
        AddFieldErrors(problems, name, PoolLimitsCheck.Check(cluster, limits));
    }

    private void ValidateRoute(List<string> problems, ResourceKey id, RouteSpec route, PoolLimits? limits)
    {
        var name = id.ToString();
        AddFieldErrors(problems, name, ConfigValidator.Validate(route));
        if (route.MaxRequestBodyBytes > options.MaxRequestBodyBytes)
            problems.Add($"{name}: maxRequestBodyBytes: {route.MaxRequestBodyBytes} is more than this worker allows ({options.MaxRequestBodyBytes}, Proxy:MaxRequestBodyBytes).");
        AddFieldErrors(problems, name, PoolLimitsCheck.Check(route, limits));
    }

    private static void AddFieldErrors(List<string> problems, string name, IReadOnlyList<FieldError> errors)
    {
        foreach (var error in errors)
            problems.Add(error.Field.Length == 0 ? $"{name}: {error.Message}" : $"{name}: {error.Field}: {error.Message}");
    }

    /// <summary>The problems of one resource as one reason; null when there are none.</summary>
    private static string? Problems(ResourceKey key, IReadOnlyList<FieldError> errors)
    {
        var problems = new List<string>();
        AddFieldErrors(problems, key.ToString(), errors);
        return problems.Count == 0 ? null : Joined(problems);
    }

    /// <summary>A rejection names this many problems at most; the rest are counted.</summary>
    private const int MaxReasons = 5;

    private static string Joined(List<string> problems)
    {
        var reason = string.Join("; ", problems.Take(MaxReasons));
        if (problems.Count > MaxReasons)
            reason += $"; and {problems.Count - MaxReasons} more";
        return reason;
    }
}
