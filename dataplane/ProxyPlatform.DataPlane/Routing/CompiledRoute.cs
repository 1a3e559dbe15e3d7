using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.DataPlane.RateLimiting;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Routing;

/// <summary>A route as the worker serves it: built once per change of the route or its tenant, read by every request it matches.</summary>
public sealed class CompiledRoute
{
    /// <summary>The order routes of one host and prefix are tried in: the most constrained first, then the highest priority, then by ID.</summary>
    public static readonly IComparer<CompiledRoute> MatchOrder = Comparer<CompiledRoute>.Create(static (a, b) =>
    {
        var byConstraints = b.Constraints.CompareTo(a.Constraints);
        if (byConstraints != 0)
            return byConstraints;
        var byPriority = b.Priority.CompareTo(a.Priority);
        return byPriority != 0 ? byPriority : string.CompareOrdinal(a.Name, b.Name);
    });

    public required ResourceKey Id { get; init; }
    /// <summary><c>tenant/route</c>, as problems and logs name it.</summary>
    public required string Name { get; init; }
    public required ClusterSlot Cluster { get; init; }
    /// <summary>Host names (exact or <c>*.example.com</c>), lower case; empty matches any host.</summary>
    public required IReadOnlyList<string> Hosts { get; init; }
    /// <summary>The normalised path prefix: decoded, without a trailing slash; the root is <c>/</c>.</summary>
    public required string Prefix { get; init; }
    public string[] Methods { get; init; } = [];
    public KeyValuePair<string, string>[] Headers { get; init; } = [];
    public int Priority { get; init; }
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

    private int Constraints => (Methods.Length > 0 ? 1 : 0) + Headers.Length;

    /// <summary>True when the request's method and headers satisfy the route (host and path are the table's part).</summary>
    public bool MatchesRequest(HttpRequest request)
    {
        if (Methods.Length > 0)
        {
            var method = request.Method;
            var found = false;
            foreach (var allowed in Methods)
            {
                if (string.Equals(allowed, method, StringComparison.OrdinalIgnoreCase))
                {
                    found = true;
                    break;
                }
            }
            if (!found)
                return false;
        }
        foreach (var (name, value) in Headers)
        {
            var values = request.Headers[name];
            var found = false;
            foreach (var candidate in values)
            {
                if (string.Equals(candidate, value, StringComparison.OrdinalIgnoreCase))
                {
                    found = true;
                    break;
                }
            }
            if (!found)
                return false;
        }
        return true;
    }

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
