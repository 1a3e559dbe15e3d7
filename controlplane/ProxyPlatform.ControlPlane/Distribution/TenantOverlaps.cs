using ProxyPlatform.Resources;
using ProxyPlatform.Routing;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// What <c>GET</c> of a route shows of its overlaps (<see cref="RouteOverlaps.Of"/>) over the tenant's
/// committed routes (<see cref="TenancyIndex.RoutesOf"/>).
/// </summary>
public static class TenantOverlaps
{
    /// <summary>At most this many overlaps are reported for one route (the first by route name).</summary>
    public const int MaxReported = 100;

    public static RouteOverlapView[] Of(RouteIndex? routes, ResourceKey key) =>
        routes?.Get(key.QualifiedId) is not { } route ? [] :
        [.. RouteOverlaps.Of(routes, route, MaxReported).Select(o => new RouteOverlapView(o.Route, o.Winner, o.Rule, o.SampleRequest is { } sample
            ? new SampleRequestView(sample.Method, sample.Host, sample.Path, [.. sample.Headers])
            : null))];
}
