using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using ProxyPlatform.Configuration;
using ProxyPlatform.Resources;

namespace ProxyPlatform.Routing;

/// <summary>
/// What a route matches, as the matching rules compare it: its hosts, its normalised path prefix, its
/// methods and headers, and its priority. The worker's <c>CompiledRoute</c> derives from it; the control
/// plane's overlap analysis uses it as it is. <see cref="Of"/> is the one mapping from a <see cref="RouteSpec"/>.
/// </summary>
public class RouteRules
{
    /// <summary>
    /// The order the routes of one host and prefix are tried in: the most constrained first (a method
    /// list counts one, each header one), then the highest priority, then by name (ordinal).
    /// </summary>
    public static readonly IComparer<RouteRules> MatchOrder = Comparer<RouteRules>.Create(static (a, b) => Compare(a, b));

    public RouteRules()
    {
    }

    /// <summary>A copy of <paramref name="rules"/>' matching part.</summary>
    [SetsRequiredMembers]
    protected RouteRules(RouteRules rules)
    {
        Id = rules.Id;
        Name = rules.Name;
        Hosts = rules.Hosts;
        Prefix = rules.Prefix;
        Methods = rules.Methods;
        Headers = rules.Headers;
        Priority = rules.Priority;
    }

    public required ResourceKey Id { get; init; }
    /// <summary><c>tenant/route</c>, as problems and logs name it; the last tie-break of <see cref="MatchOrder"/>.</summary>
    public required string Name { get; init; }
    /// <summary>
    /// Host names (exact or <c>*.example.com</c>), normalized (<see cref="HostNames"/>), distinct;
    /// <see cref="RouteMatcher.UnclaimedHosts"/> for a tenant from before every tenant claimed a host.
    /// </summary>
    public required IReadOnlyList<string> Hosts { get; init; }
    /// <summary>The normalised path prefix (<see cref="NormalizePrefix"/>): decoded, without a trailing slash; the root is <c>/</c>.</summary>
    public required string Prefix { get; init; }
    /// <summary>Upper-case methods; empty matches any method.</summary>
    public string[] Methods { get; init; } = [];
    /// <summary>Required header values (name and value compare ignoring case), ordered by name.</summary>
    public KeyValuePair<string, string>[] Headers { get; init; } = [];
    public int Priority { get; init; }

    /// <summary>How constrained the route is: one for a method list, one per header.</summary>
    public int Constraints => (Methods.Length > 0 ? 1 : 0) + Headers.Length;

    /// <summary>Negative when <paramref name="a"/> is tried before <paramref name="b"/> among the routes of one host key and prefix.</summary>
    public static int Compare(RouteRules a, RouteRules b)
    {
        var byConstraints = b.Constraints.CompareTo(a.Constraints);
        if (byConstraints != 0)
            return byConstraints;
        var byPriority = b.Priority.CompareTo(a.Priority);
        return byPriority != 0 ? byPriority : string.CompareOrdinal(a.Name, b.Name);
    }

    /// <summary>The route's matching rules as every worker compiles them; <paramref name="tenantHostnames"/> are its tenant's claims.</summary>
    public static RouteRules Of(ResourceKey id, RouteSpec route, IReadOnlyList<string> tenantHostnames) => new()
    {
        Id = id,
        Name = id.QualifiedId,
        Hosts = HostsOf(route, tenantHostnames),
        Prefix = NormalizePrefix(route.Match?.PathPrefix),
        Methods = [.. route.Match?.Methods ?? []],
        Headers = [.. (route.Match?.Headers ?? new Dictionary<string, string>()).OrderBy(h => h.Key, StringComparer.Ordinal)],
        Priority = route.Priority,
    };

    /// <summary>A route's hosts: its own, else (none given) all of its tenant's claims; normalized and distinct.</summary>
    public static string[] HostsOf(RouteSpec route, IReadOnlyList<string> tenantHostnames)
    {
        IReadOnlyList<string> hosts = route.Match?.Hosts is { Count: > 0 } own ? own
            : tenantHostnames.Count > 0 ? tenantHostnames
            : [RouteMatcher.UnclaimedHosts];
        return hosts.Select(HostNames.Normalize).Distinct(StringComparer.Ordinal).ToArray();
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

    /// <summary>True when the request's method and headers satisfy the route (host and path are the matcher's part).</summary>
    public bool Accepts<TRequest>(TRequest request) where TRequest : IRouteRequest
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
            if (!request.HasHeader(name, value))
                return false;
        }
        return true;
    }

    /// <summary>True when <paramref name="path"/> (decoded) lies under <paramref name="prefix"/> (normalised): equal, or followed by <c>/</c>; ignoring case.</summary>
    public static bool PathIsUnder(string path, string prefix)
    {
        if (prefix == "/")
            return true;
        return path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && (path.Length == prefix.Length || path[prefix.Length] == '/');
    }
}
