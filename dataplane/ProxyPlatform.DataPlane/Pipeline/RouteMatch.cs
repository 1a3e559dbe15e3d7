using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Routing;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// The first step of a request: the route it goes to in the configuration the worker serves now.
/// Without a configuration the answer is 503 <c>no-configuration</c> (with <c>Retry-After</c>);
/// for a host no tenant claims, 404 <c>unknown-host</c>; without a matching route of the tenant that
/// owns the host, 404 <c>no-route</c>.
/// </summary>
public static class RouteMatch
{
    /// <summary>The route of <paramref name="request"/> in <paramref name="runtime"/>, or null and the answer in <paramref name="unmatched"/>.</summary>
    public static CompiledRoute? Find(ProxyRuntime? runtime, HttpRequest request, out Problem unmatched)
    {
        if (runtime is null)
        {
            unmatched = Problem.NoConfiguration;
            return null;
        }
        var route = runtime.Routes.Match(request);
        unmatched = route is not null ? default
            : runtime.Routes.OwnerOf(request.Host.Host) is null ? Problem.UnknownHost(request)
            : Problem.NoRoute(request);
        return route;
    }
}
