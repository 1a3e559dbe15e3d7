using ProxyPlatform.Http;

namespace ProxyPlatform.DataPlane.Hosting;

/// <summary>
/// The worker's proxy, ops and optional h2c listeners, with the ports they were bound to
/// (<c>Proxy:Url</c>, <c>Ops:Url</c> and <c>Proxy:H2cUrl</c> may ask for port 0).
/// </summary>
public sealed record WorkerListeners(ListenerAddress Proxy, ListenerAddress Ops, ListenerAddress? H2c);
