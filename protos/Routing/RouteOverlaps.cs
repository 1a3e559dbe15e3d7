using ProxyPlatform.Configuration;

namespace ProxyPlatform.Routing;

/// <summary>
/// Two routes that can take the same requests: <paramref name="Route"/> is the other route (<c>tenant/route</c>),
/// <paramref name="Winner"/> the one of the two that takes <paramref name="SampleRequest"/>, <paramref name="Rule"/>
/// the rule that decides it (<see cref="RouteOverlaps"/>).
/// </summary>
/// <param name="SampleRequest">
/// A request both routes accept, which the tenant's routes send to <paramref name="Winner"/>; null when a
/// third route takes the requests tried.
/// </param>
public sealed record RouteOverlap(string Route, string Winner, string Rule, SampleRequest? SampleRequest);

/// <summary>
/// The overlap analysis, by the rules of <see cref="RouteMatcher{TRoute}"/>: which routes of a tenant
/// can take the same requests, which one wins them, and which routes can never answer.
/// </summary>
/// <remarks>
/// A route is <b>fully shadowed</b> when every request it accepts goes to another route. Under the
/// matching rules that happens only among routes under the same host key with the same prefix: a
/// request under a wildcard host or a prefix can always be made to avoid a more specific host or a
/// longer prefix, and a less specific one is tried later. So route A is fully shadowed when, for each
/// of its host keys, the routes there with A's prefix that are tried before A, require no header A does
/// not require, and together accept every method A accepts (any method: one of them accepts any).
/// </remarks>
public static class RouteOverlaps
{
    /// <summary>The rules that decide which of two routes takes a request both accept.</summary>
    public static class Rules
    {
        public const string ExactHost = "exact-host";
        public const string LongerWildcard = "longer-wildcard";
        public const string LongerPrefix = "longer-prefix";
        public const string MoreConstraints = "more-constraints";
        public const string Priority = "priority";
        public const string Name = "name";
    }

    /// <summary>
    /// The routes that together take every request <paramref name="route"/> accepts, or none when it
    /// answers some request. <paramref name="at"/> gives the tenant's routes under a host key with a prefix.
    /// </summary>
    public static IReadOnlyList<RouteRules> ShadowedBy(RouteRules route, Func<string, string, IEnumerable<RouteRules>> at)
    {
        var shadowers = new List<RouteRules>();
        foreach (var host in route.Hosts)
        {
            var methods = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            RouteRules? anyMethod = null;
            var before = new List<RouteRules>();
            foreach (var other in at(host, route.Prefix))
            {
                if (other.Name == route.Name || RouteRules.Compare(other, route) >= 0 || !HeadersWithin(other, route))
                    continue;
                if (other.Methods.Length == 0)
                {
                    anyMethod = other;
                    break;
                }
                if (route.Methods.Any(m => other.Methods.Contains(m, StringComparer.OrdinalIgnoreCase)))
                {
                    before.Add(other);
                    methods.UnionWith(other.Methods);
                }
            }
            if (anyMethod is not null)
                shadowers.Add(anyMethod);
            else if (route.Methods.Length > 0 && route.Methods.All(methods.Contains))
                shadowers.AddRange(before);
            else
                return [];
        }
        return shadowers.DistinctBy(r => r.Name).OrderBy(r => r.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// The routes of <paramref name="routes"/> that can take some of the same requests as <paramref name="route"/>,
    /// by route name, at most <paramref name="max"/>: each with the winner, the rule, and a sample request checked
    /// against every route that could take it.
    /// </summary>
    public static List<RouteOverlap> Of(RouteIndex routes, RouteRules route, int max)
    {
        var overlaps = new List<RouteOverlap>();
        var candidates = routes.Candidates(route).OrderBy(r => r.Name, StringComparer.Ordinal).ToList();
        if (candidates.Count == 0)
            return overlaps;
        // Any route that takes a request the two share accepts it too, so it is among the candidates.
        var verify = RouteMatcher<RouteRules>.Empty
            .WithClaims(new Dictionary<string, IReadOnlyList<string>> { [route.Id.Tenant] = [.. candidates.SelectMany(r => r.Hosts).Concat(route.Hosts).Distinct(StringComparer.Ordinal)] })
            .With([], [route, .. candidates]);
        foreach (var other in candidates)
        {
            if (Between(route, other, verify) is { } overlap)
                overlaps.Add(overlap);
            if (overlaps.Count == max)
                break;
        }
        return overlaps;
    }

    /// <summary>
    /// How <paramref name="route"/> and <paramref name="other"/> overlap, or null when no request can go to
    /// both. <paramref name="verify"/> (the routes that may take the sample: the two and the candidates of
    /// <see cref="RouteIndex.Candidates"/>) checks the sample against every route that could take it.
    /// </summary>
    public static RouteOverlap? Between(RouteRules route, RouteRules other, RouteMatcher<RouteRules>? verify = null)
    {
        if (SampleOf(route, other) is not { } sample)
            return null;
        var pair = RouteMatcher<RouteRules>.Empty
            .WithClaims(new Dictionary<string, IReadOnlyList<string>> { [route.Id.Tenant] = [.. route.Hosts.Union(other.Hosts)] })
            .With([], [route, other]);
        var attempts = new List<RouteAttempt<RouteRules>>();
        if (pair.Match(sample, attempts) is not { } winner)
            return null;
        var rule = RuleBetween(attempts.First(a => a.Route == winner), attempts.FirstOrDefault(a => a.Route != winner));
        var taken = verify?.Match(sample) ?? winner;
        return new RouteOverlap(other.Name, winner.Name, rule, taken == winner ? sample : null);
    }

    /// <summary>A request that both routes accept, or null when none does.</summary>
    public static SampleRequest? SampleOf(RouteRules a, RouteRules b)
    {
        string? path = RouteRules.PathIsUnder(a.Prefix, b.Prefix) ? a.Prefix : RouteRules.PathIsUnder(b.Prefix, a.Prefix) ? b.Prefix : null;
        if (path is null)
            return null;
        string? method = (a.Methods.Length, b.Methods.Length) switch
        {
            (0, 0) => "GET",
            (0, _) => b.Methods[0],
            (_, 0) => a.Methods[0],
            _ => a.Methods.FirstOrDefault(m => b.Methods.Contains(m, StringComparer.OrdinalIgnoreCase)),
        };
        if (method is null)
            return null;
        string? host = null;
        foreach (var ha in a.Hosts)
        {
            foreach (var hb in b.Hosts)
            {
                if ((host = SharedHost(ha, hb)) is not null)
                    break;
            }
            if (host is not null)
                break;
        }
        if (host is null)
            return null;
        // A request may carry a header more than once: it then satisfies both routes' values.
        var headers = a.Headers.Concat(b.Headers)
            .DistinctBy(h => (h.Key.ToLowerInvariant(), h.Value.ToLowerInvariant()))
            .ToList();
        return new SampleRequest(method, host, path, headers);
    }

    /// <summary>A host name under both host keys (a made-up name below the deeper wildcard), or null.</summary>
    private static string? SharedHost(string a, string b)
    {
        if (a == RouteMatcher.UnclaimedHosts || b == RouteMatcher.UnclaimedHosts)
            return null;
        if (a == b)
            return HostNames.IsWildcard(a) ? "sample" + a[1..] : a;
        if (HostNames.Covers(a, b))
            return HostNames.IsWildcard(b) ? "sample" + b[1..] : b;
        if (HostNames.Covers(b, a))
            return HostNames.IsWildcard(a) ? "sample" + a[1..] : a;
        return null;
    }

    private static bool HeadersWithin(RouteRules other, RouteRules route)
    {
        foreach (var (name, value) in other.Headers)
        {
            var found = false;
            foreach (var (n, v) in route.Headers)
            {
                if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase) && string.Equals(v, value, StringComparison.OrdinalIgnoreCase))
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

    private static string RuleBetween(RouteAttempt<RouteRules> winner, RouteAttempt<RouteRules> loser)
    {
        if (loser.Route is null)
            return Rules.Name;
        if (!string.Equals(winner.HostKey, loser.HostKey, StringComparison.OrdinalIgnoreCase))
            return HostNames.IsWildcard(winner.HostKey) ? Rules.LongerWildcard : Rules.ExactHost;
        if (!string.Equals(winner.Route.Prefix, loser.Route.Prefix, StringComparison.OrdinalIgnoreCase))
            return Rules.LongerPrefix;
        if (winner.Route.Constraints != loser.Route.Constraints)
            return Rules.MoreConstraints;
        return winner.Route.Priority != loser.Route.Priority ? Rules.Priority : Rules.Name;
    }
}
