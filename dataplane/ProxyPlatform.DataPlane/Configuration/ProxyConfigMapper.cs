using ProxyPlatform.Configuration;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>The routes and clusters YARP serves for one snapshot.</summary>
public sealed record YarpConfig(IReadOnlyList<RouteConfig> Routes, IReadOnlyList<ClusterConfig> Clusters)
{
    public static YarpConfig Empty { get; } = new([], []);
}

/// <summary>
/// The one mapping from the configuration model to YARP. A route becomes the YARP route
/// <c>{tenant}/{route}</c> and a cluster the YARP cluster <c>{tenant}/{cluster}</c>, so tenants
/// never share IDs.
/// </summary>
public static class ProxyConfigMapper
{
    /// <summary>The name YARP's path template gives the rest of the path after a prefix.</summary>
    public const string CatchAll = "catch-all";

    public static YarpConfig Map(ConfigSnapshot snapshot)
    {
        var routes = new List<RouteConfig>(snapshot.Routes.Count);
        foreach (var (id, route) in snapshot.Routes.OrderBy(r => r.Key.ToString(), StringComparer.Ordinal))
            routes.Add(MapRoute(id, route.Spec, snapshot.Tenants.GetValueOrDefault(id.Tenant)?.Spec));
        var clusters = new List<ClusterConfig>(snapshot.Clusters.Count);
        foreach (var (id, cluster) in snapshot.Clusters.OrderBy(c => c.Key.ToString(), StringComparer.Ordinal))
            clusters.Add(MapCluster(id, cluster.Spec));
        return new YarpConfig(routes, clusters);
    }

    public static RouteConfig MapRoute(ResourceId id, RouteSpec route, TenantSpec? tenant)
    {
        var match = route.Match ?? new RouteMatchSpec();
        var prefix = NormalizePrefix(match.PathPrefix);
        // A route without hosts serves its tenant's host names; a tenant without any serves every host.
        var hosts = match.Hosts is { Count: > 0 } ? match.Hosts : tenant?.Hostnames is { Count: > 0 } owned ? owned : null;

        var transforms = new List<IReadOnlyDictionary<string, string>>();
        if (route.StripPrefix && prefix != "/")
            transforms.Add(new Dictionary<string, string> { ["PathRemovePrefix"] = prefix });
        // Off by default, so the backend gets its own host name, as nginx and Kong send it.
        if (route.PreserveHost)
            transforms.Add(new Dictionary<string, string> { ["RequestHeaderOriginalHost"] = "true" });

        return new RouteConfig
        {
            RouteId = id.ToString(),
            ClusterId = new ResourceId(id.Tenant, route.Cluster).ToString(),
            Match = new RouteMatch
            {
                Hosts = hosts?.ToArray(),
                Path = PathPattern(prefix),
                Methods = match.Methods is { Count: > 0 } methods ? methods.ToArray() : null,
                Headers = match.Headers is { Count: > 0 } headers
                    ? headers.OrderBy(h => h.Key, StringComparer.Ordinal)
                        .Select(h => new RouteHeader { Name = h.Key, Values = [h.Value], Mode = HeaderMatchMode.ExactHeader, IsCaseSensitive = false })
                        .ToArray()
                    : null,
            },
            Timeout = route.TimeoutSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            MaxRequestBodySize = route.MaxRequestBodyBytes,
            Transforms = transforms.Count > 0 ? transforms : null,
        };
    }

    public static ClusterConfig MapCluster(ResourceId id, ClusterDefinition cluster)
    {
        var spec = cluster.Spec ?? new ClusterSpec();
        var destinations = new Dictionary<string, DestinationConfig>(StringComparer.OrdinalIgnoreCase);
        foreach (var (backendId, backend) in cluster.Backends.OrderBy(b => b.Key, StringComparer.Ordinal))
        {
            if (backend.Enabled && backend.Weight > 0)
                destinations[backendId] = new DestinationConfig { Address = backend.Address };
        }
        return new ClusterConfig
        {
            ClusterId = id.ToString(),
            LoadBalancingPolicy = LoadBalancingPolicy(spec.LoadBalancing),
            Destinations = destinations,
            HttpRequest = spec.Timeouts?.ResponseHeadersSeconds is { } seconds
                ? new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(seconds) }
                : null,
        };
    }

    /// <summary>
    /// The YARP path template of a prefix: <c>/</c> matches everything, <c>/api</c> matches <c>/api</c>,
    /// <c>/api/</c> and <c>/api/x</c> but not <c>/apix</c> (a prefix ends on a segment boundary).
    /// </summary>
    public static string PathPattern(string pathPrefix)
    {
        var prefix = NormalizePrefix(pathPrefix);
        return prefix == "/" ? $"/{{**{CatchAll}}}" : $"{prefix}/{{**{CatchAll}}}";
    }

    /// <summary>
    /// The prefix as requests are matched against it: percent-decoded the way the server decodes
    /// request paths (all but <c>%2F</c>), without its trailing slash (<c>/api/</c> is <c>/api</c>);
    /// <c>/</c> stays <c>/</c>.
    /// </summary>
    public static string NormalizePrefix(string? pathPrefix)
    {
        var decoded = PathString.FromUriComponent(pathPrefix ?? "/").Value ?? "/";
        var trimmed = decoded.TrimEnd('/');
        return trimmed.Length == 0 ? "/" : trimmed;
    }

    /// <summary>YARP's policy for a load-balancing setting. Weighted round robin is plain round robin until weights are implemented.</summary>
    public static string LoadBalancingPolicy(string loadBalancing) => loadBalancing switch
    {
        LoadBalancingPolicies.Random => Yarp.ReverseProxy.LoadBalancing.LoadBalancingPolicies.Random,
        LoadBalancingPolicies.LeastRequests => Yarp.ReverseProxy.LoadBalancing.LoadBalancingPolicies.LeastRequests,
        LoadBalancingPolicies.PowerOfTwoChoices => Yarp.ReverseProxy.LoadBalancing.LoadBalancingPolicies.PowerOfTwoChoices,
        _ => Yarp.ReverseProxy.LoadBalancing.LoadBalancingPolicies.RoundRobin,
    };
}
