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
public sealed class SnapshotValidator(IConfigValidator yarp, DataPlaneOptions options)
{
    /// <summary>A NACK names this many problems at most; the rest are counted.</summary>
    private const int MaxReasons = 5;

    public async ValueTask<SnapshotValidation> ValidateAsync(ConfigSnapshot snapshot)
    {
        var problems = new List<string>();
        foreach (var (tenant, spec) in snapshot.Tenants.OrderBy(t => t.Key, StringComparer.Ordinal))
            AddFieldErrors(problems, $"tenant {tenant}", ConfigValidator.Validate(spec.Spec));
        foreach (var (id, cluster) in snapshot.Clusters.OrderBy(c => c.Key.ToString(), StringComparer.Ordinal))
            ValidateCluster(problems, snapshot, id, cluster.Spec);
        foreach (var (id, route) in snapshot.Routes.OrderBy(r => r.Key.ToString(), StringComparer.Ordinal))
            ValidateRoute(problems, snapshot, id, route.Spec);
        if (problems.Count > 0)
            return Rejected(problems);

        // Only a snapshot that is valid in the model's terms is mapped and shown to YARP.
        var config = ProxyConfigMapper.Map(snapshot);
        foreach (var route in config.Routes)
        {
            foreach (var error in await yarp.ValidateRouteAsync(route))
                problems.Add($"route {route.RouteId}: {error.Message}");
        }
        foreach (var cluster in config.Clusters)
        {
            foreach (var error in await yarp.ValidateClusterAsync(cluster))
                problems.Add($"cluster {cluster.ClusterId}: {error.Message}");
        }
        return problems.Count > 0 ? Rejected(problems) : new SnapshotValidation(config, null);
    }

    private static void ValidateCluster(List<string> problems, ConfigSnapshot snapshot, ResourceId id, ClusterDefinition cluster)
    {
        var name = $"cluster {id}";
        if (!snapshot.Tenants.ContainsKey(id.Tenant))
            problems.Add($"{name}: tenant '{id.Tenant}' is not in the configuration.");
        AddFieldErrors(problems, name, ConfigValidator.Validate(cluster.Spec));
        foreach (var (backendId, backend) in cluster.Backends)
        {
            if (!ConfigValidator.IsValidId(backendId))
                problems.Add($"{name}: backends: '{backendId}' is not a valid backend ID.");
            foreach (var error in ConfigValidator.Validate(backend))
                problems.Add($"{name}: backends.{backendId}.{error.Field}: {error.Message}");
        }
    }

    private void ValidateRoute(List<string> problems, ConfigSnapshot snapshot, ResourceId id, RouteSpec route)
    {
        var name = $"route {id}";
        var errors = ConfigValidator.Validate(route);
        AddFieldErrors(problems, name, errors);
        // Without its tenant a route would fall back to matching every host, not the tenant's.
        if (!snapshot.Tenants.ContainsKey(id.Tenant))
            problems.Add($"{name}: tenant '{id.Tenant}' is not in the configuration.");
        if (errors.All(e => e.Field != "cluster") && !snapshot.Clusters.ContainsKey(new ResourceId(id.Tenant, route.Cluster)))
            problems.Add($"{name}: cluster: '{route.Cluster}' is not a cluster of tenant '{id.Tenant}'.");
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
