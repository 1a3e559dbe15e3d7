using ProxyPlatform.Resources;
using ProxyPlatform.Routing;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// What <c>GET</c> of a route shows of its overlaps: the committed routes of its tenant that can take
/// some of the same requests (<see cref="RouteIndex.Candidates"/>), each with the winner, the rule and a
/// sample request checked against every route that could take it (<see cref="RouteOverlaps.Between"/>).
/// </summary>
public static class TenantOverlaps
{
    /// <summary>At most this many overlaps are reported for one route (the first by route name).</summary>
    public const int MaxReported = 100;

    public static RouteOverlapView[] Of(RouteIndex? routes, ResourceKey key)
    {
        if (routes?.Get(key.QualifiedId) is not { } route)
            return [];
        var candidates = routes.Candidates(route).OrderBy(r => r.Name, StringComparer.Ordinal).ToList();
        if (candidates.Count == 0)
            return [];
        // Any route that takes a request the two share accepts it too, so it is among the candidates.
        var verify = RouteMatcher<RouteRules>.Empty
            .WithClaims(new Dictionary<string, IReadOnlyList<string>> { [key.Tenant] = [.. candidates.SelectMany(r => r.Hosts).Concat(route.Hosts).Distinct(StringComparer.Ordinal)] })
            .With([], [route, .. candidates]);
        var overlaps = new List<RouteOverlapView>();
        foreach (var other in candidates)
        {
            if (RouteOverlaps.Between(route, other, verify) is not { } overlap)
                continue;
            overlaps.Add(new RouteOverlapView(overlap.Route, overlap.Winner, overlap.Rule, overlap.SampleRequest is { } sample
                ? new SampleRequestView(sample.Method, sample.Host, sample.Path, [.. sample.Headers])
                : null));
            if (overlaps.Count == MaxReported)
                break;
        }
        return [.. overlaps];
    }
}
