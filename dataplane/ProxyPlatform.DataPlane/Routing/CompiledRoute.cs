using System.Diagnostics.CodeAnalysis;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.DataPlane.RateLimiting;
using ProxyPlatform.Resources;
using ProxyPlatform.Routing;

namespace ProxyPlatform.DataPlane.Routing;

/// <summary>
/// A route as the worker serves it: built once per change of the route or its tenant, read by every
/// request it matches. Its matching part is the shared <see cref="RouteRules"/>, which the control
/// plane's analysis uses too.
/// </summary>
public sealed class CompiledRoute : RouteRules
{
    public CompiledRoute()
    {
    }

    /// <summary>A route with <paramref name="rules"/> (<see cref="RouteRules.Of"/>); the rest is set by the initializer.</summary>
    [SetsRequiredMembers]
    public CompiledRoute(RouteRules rules, ClusterSlot cluster) : base(rules)
    {
        Cluster = cluster;
    }

    public required ClusterSlot Cluster { get; init; }
    public bool StripPrefix { get; init; }
    public bool PreserveHost { get; init; }
    /// <summary>The whole request's time limit, from its first byte to the response's last.</summary>
    public TimeSpan? Timeout { get; init; }
    public long? MaxRequestBodyBytes { get; init; }
    public TokenBucketLimiter? RateLimit { get; init; }
    /// <summary>Plain-HTTP requests are answered 308 to https (<see cref="Pipeline.HttpsRedirect"/>).</summary>
    public bool HttpsRedirect { get; init; }
    /// <summary>The <c>Strict-Transport-Security</c> value set on the route's responses over https; null for none.</summary>
    public string? Hsts { get; init; }
    /// <summary>The route's requests, counted under the status the client got.</summary>
    public TrafficCounters? Traffic { get; init; }

    /// <summary>The path the backend receives: the request's path, without the prefix when the route strips it.</summary>
    public PathString BackendPath(PathString path)
    {
        if (!StripPrefix || Prefix == "/")
            return path;
        return path.StartsWithSegments(Prefix, StringComparison.OrdinalIgnoreCase, out var rest) ? rest : path;
    }
}

/// <summary>
/// Where a route finds its cluster. Routes hold the slot, not the cluster, so that a change of a
/// cluster or its backends replaces <see cref="Current"/> and never touches the routing table.
/// </summary>
public sealed class ClusterSlot(ResourceKey id)
{
    private volatile ClusterRuntime? _current;

    public ResourceKey Id { get; } = id;
    /// <summary>The cluster as served now; null once it is removed.</summary>
    public ClusterRuntime? Current { get => _current; set => _current = value; }
}
