using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Routing;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// The first step of a request: the route it goes to in the configuration the worker serves now.
/// Without a configuration the answer is 503 <c>no-configuration</c> (with <c>Retry-After</c>);
/// for a host no tenant claims, 404 <c>unknown-host</c>; without a matching route of the tenant that
/// owns the host, 404 <c>no-route</c>. Over TLS, a request whose Host another tenant owns than the one that
/// owns the connection's server name (SNI), whose certificate the client was given, is 421
/// <c>misdirected-request</c> and is not routed: a connection is only ever one tenant's, even when a client
/// reuses it for another name (HTTP/2 connection reuse, RFC 9110 §15.5.20).
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
        if (request.IsHttps && Misdirected(runtime, request) is { } misdirected)
        {
            unmatched = misdirected;
            return null;
        }
        var route = runtime.Routes.Match(request);
        unmatched = route is not null ? default
            : runtime.Routes.OwnerOf(request.Host.Host) is null ? Problem.UnknownHost(request)
            : Problem.NoRoute(request);
        return route;
    }

    /// <summary>421 when the connection's server name and the request's Host belong to different tenants (or the Host to none).</summary>
    private static Problem? Misdirected(ProxyRuntime runtime, HttpRequest request)
    {
        var serverName = request.HttpContext.Features.Get<ISslStreamFeature>()?.SslStream.TargetHostName;
        if (string.IsNullOrEmpty(serverName))
            return null;
        var connectionOwner = runtime.Routes.OwnerOf(serverName.ToLowerInvariant());
        var hostOwner = runtime.Routes.OwnerOf(request.Host.Host);
        return string.Equals(connectionOwner, hostOwner, StringComparison.Ordinal) ? null : Problem.Misdirected(request, serverName);
    }
}
