using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Hosting;
using Yarp.ReverseProxy.Configuration;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>The verdict on a snapshot: the YARP configuration to serve, or why it cannot be served.</summary>
public sealed record SnapshotValidation(YarpConfig? Config, string? Rejection)
{
    public bool IsValid => Config is not null;
}

/// <summary>
/// Decides whether a whole snapshot can be served: every spec passes the shared
/// <see cref="ConfigValidator"/>, every route's tenant and cluster exist, nothing asks for more than
/// this worker allows, and YARP's own validator accepts the mapped routes and clusters.
/// Reasons name the resource at fault (<c>route acme/api: …</c>).
/// </summary>
/// <remarks>
/// What passed is remembered by the revisions it was built from, so a resource that did not
/// change is neither validated nor mapped again: an update costs what it changes, plus a
/// dictionary look-up per resource for the checks that span resources.
/// </remarks>
public sealed class SnapshotValidator(IConfigValidator yarp, DataPlaneOptions options)
{
    /// <summary>A NACK names this many problems at most; the rest are counted.</summary>
    private const int MaxReasons = 5;

    private Dictionary<string, long> _tenants = [];
    private Dictionary<ResourceId, (long Revision, ClusterConfig Config)> _clusters = [];
    private Dictionary<ResourceId, (long Revision, long TenantRevision, RouteConfig Config)> _routes = [];

    public async ValueTask<SnapshotValidation> ValidateAsync(ConfigSnapshot snapshot)
    {
        var problems = new List<string>();
        var tenants = new Dictionary<string, long>(snapshot.Tenants.Count);
        foreach (var (tenant, spec) in snapshot.Tenants)
        {
            if (!_tenants.TryGetValue(tenant, out var seen) || seen != spec.Revision)
                AddFieldErrors(problems, $"tenant {tenant}", ConfigValidator.Validate(spec.Spec));
            tenants[tenant] = spec.Revision;
        }

        var clusters = new Dictionary<ResourceId, (long Revision, ClusterConfig Config)>(snapshot.Clusters.Count);
        var newClusters = new List<ClusterConfig>();
        foreach (var (id, cluster) in snapshot.Clusters)
        {
            if (!snapshot.Tenants.ContainsKey(id.Tenant))
                problems.Add($"cluster {id}: tenant '{id.Tenant}' is not in the configuration.");
            if (_clusters.TryGetValue(id, out var known) && known.Revision == cluster.Revision)
            {
                clusters[id] = known;
                continue;
            }
            var before = problems.Count;
            ValidateCluster(problems, id, cluster.Spec);
            if (problems.Count > before)
                continue;
            var mapped = ProxyConfigMapper.MapCluster(id, cluster.Spec);
            clusters[id] = (cluster.Revision, mapped);
            newClusters.Add(mapped);
        }

        var routes = new Dictionary<ResourceId, (long Revision, long TenantRevision, RouteConfig Config)>(snapshot.Routes.Count);
        var newRoutes = new List<RouteConfig>();
        foreach (var (id, route) in snapshot.Routes)
        {
            // Without its tenant a route would fall back to matching every host, not the tenant's.
            var tenant = snapshot.Tenants.GetValueOrDefault(id.Tenant);
            if (tenant is null)
                problems.Add($"route {id}: tenant '{id.Tenant}' is not in the configuration.");
            if (route.Spec.Cluster is { } clusterId && ConfigValidator.IsValidId(clusterId) && !snapshot.Clusters.ContainsKey(new ResourceId(id.Tenant, clusterId)))
                problems.Add($"route {id}: cluster: '{clusterId}' is not a cluster of tenant '{id.Tenant}'.");
            var tenantRevision = tenant?.Revision ?? 0;
            if (_routes.TryGetValue(id, out var known) && known.Revision == route.Revision && known.TenantRevision == tenantRevision)
            {
                routes[id] = known;
                continue;
            }
            var before = problems.Count;
            ValidateRoute(problems, id, route.Spec);
            if (problems.Count > before)
                continue;
            var mapped = ProxyConfigMapper.MapRoute(id, route.Spec, tenant?.Spec);
            routes[id] = (route.Revision, tenantRevision, mapped);
            newRoutes.Add(mapped);
        }
        if (problems.Count > 0)
            return Rejected(problems);

        // Only what is valid in the model's terms is shown to YARP, and only what is new to it.
        foreach (var route in newRoutes)
        {
            foreach (var error in await yarp.ValidateRouteAsync(route))
                problems.Add($"route {route.RouteId}: {error.Message}");
        }
        foreach (var cluster in newClusters)
        {
            foreach (var error in await yarp.ValidateClusterAsync(cluster))
                problems.Add($"cluster {cluster.ClusterId}: {error.Message}");
        }
        if (problems.Count > 0)
            return Rejected(problems);

        (_tenants, _clusters, _routes) = (tenants, clusters, routes);
        return new SnapshotValidation(new YarpConfig(routes.Values.Select(r => r.Config).ToList(), clusters.Values.Select(c => c.Config).ToList()), null);
    }

    private static void ValidateCluster(List<string> problems, ResourceId id, ClusterDefinition cluster)
    {
        var name = $"cluster {id}";
        AddFieldErrors(problems, name, ConfigValidator.Validate(cluster.Spec));
        foreach (var (backendId, backend) in cluster.Backends)
        {
            if (!ConfigValidator.IsValidId(backendId))
                problems.Add($"{name}: backends: '{backendId}' is not a valid backend ID.");
            foreach (var error in ConfigValidator.Validate(backend))
                problems.Add($"{name}: backends.{backendId}.{error.Field}: {error.Message}");
        }
    }

    private void ValidateRoute(List<string> problems, ResourceId id, RouteSpec route)
    {
        var name = $"route {id}";
        AddFieldErrors(problems, name, ConfigValidator.Validate(route));
        if (route.MaxRequestBodyBytes > options.MaxRequestBodyBytes)
            problems.Add($"{name}: maxRequestBodyBytes: {route.MaxRequestBodyBytes} is more than this worker allows ({options.MaxRequestBodyBytes}, Proxy:MaxRequestBodyBytes).");
    }

    private static void AddFieldErrors(List<string> problems, string name, IReadOnlyList<FieldError> errors)
    {
        foreach (var error in errors)
            problems.Add(error.Field.Length == 0 ? $"{name}: {error.Message}" : $"{name}: {error.Field}: {error.Message}");
    }

    private static SnapshotValidation Rejected(List<string> problems)
    {
        var reason = string.Join("; ", problems.Take(MaxReasons));
        if (problems.Count > MaxReasons)
            reason += $"; and {problems.Count - MaxReasons} more";
        return new SnapshotValidation(null, reason);
    }
}
