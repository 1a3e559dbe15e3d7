using ProxyPlatform.Http;

namespace ProxyPlatform.ControlPlane.Hosting;

/// <summary>
/// The control plane's three listeners, with the ports they were bound to (each URL may ask for port
/// 0): the REST admin API, gRPC (admin and the workers' stream), and ops (health, readiness, metrics;
/// no credentials, so never public).
/// </summary>
public sealed record ControlPlaneListeners(ListenerAddress Admin, ListenerAddress Grpc, ListenerAddress Ops)
{
    /// <summary>The listener a connection arrived on, by its local port: never by a Host header, which the client writes.</summary>
    public Listener Of(int localPort) =>
        localPort == Ops.Port ? Listener.Ops : localPort == Grpc.Port ? Listener.Grpc : localPort == Admin.Port ? Listener.Admin : Listener.None;

    /// <summary>
    /// Serves each endpoint on its own listener only (<see cref="ServedOn"/>): an endpoint matched on
    /// another listener, or declaring none, is dropped, and the request goes on as matching nothing.
    /// Outside the admin listener that is a plain 404 at once; on it, the fallback policy still
    /// refuses an anonymous caller first, so no one learns which paths exist without a key.
    /// </summary>
    public IApplicationBuilder Keep(IApplicationBuilder app) => app.Use((context, next) =>
    {
        var listener = Of(context.Connection.LocalPort);
        if (context.GetEndpoint() is { } endpoint && endpoint.Metadata.GetMetadata<ServedOn>()?.Listener != listener)
            context.SetEndpoint(null);
        if (context.GetEndpoint() is null && listener != Listener.Admin)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }
        return next(context);
    });
}

public enum Listener
{
    None,
    Admin,
    Grpc,
    Ops,
}

/// <summary>Endpoint metadata: the listener an endpoint is served on.</summary>
public sealed record ServedOn(Listener Listener);
