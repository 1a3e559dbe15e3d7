using System.Diagnostics;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.WebSockets;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// Every request on the proxy listener, in four steps after <see cref="PathNormalization"/> settles its
/// path (what is matched is what the backend gets): <see cref="RouteMatch"/> finds its route in
/// the configuration served now, <see cref="RequestGuards"/> admit it (loops, body limit, rate,
/// a backend to send to), <see cref="RetryingForward"/> sends it to the cluster's backends through
/// YARP's forwarder, and <see cref="RequestAccounting"/> counts it on its route under the status the
/// client got (each attempt is counted on its backend as it ends). Whatever the worker answers
/// itself is a <see cref="Problem"/>.
/// </summary>
public sealed class ProxyHandler(ConfigApplier applier, RequestGuards guards, RetryingForward forward, HttpsRedirect redirect, WebSocketTunnels tunnels)
{
    /// <summary>Traces of the request path; without a listener (no OTLP endpoint) starting an activity costs a flag check.</summary>
    public static readonly ActivitySource Activities = new("ProxyPlatform.DataPlane");

    public async Task InvokeAsync(HttpContext context)
    {
        if (!PathNormalization.TryNormalize(context.Request, out var badPath))
        {
            await badPath.WriteAsync(context);
            return;
        }
        var route = RouteMatch.Find(applier.Runtime, context.Request, out var unmatched);
        if (route is null)
        {
            await unmatched.WriteAsync(context);
            return;
        }
        using var accounting = new RequestAccounting(context, route.Traffic);
        if (route.HttpsRedirect && HttpsRedirect.Applies(context.Request))
        {
            await redirect.WriteAsync(context);
            return;
        }
        if (guards.Admit(context, route, out var refusal) is not { } admitted)
        {
            await refusal.WriteAsync(context, route);
            return;
        }
        RequestAccounting.CountBodyWithoutLength(context);
        // A WebSocket is followed while it is open, so that a worker that leaves can close it properly.
        using var tunnel = tunnels.Track(context);
        await forward.SendAsync(context, route, admitted);
    }
}
