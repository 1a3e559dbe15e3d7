using ProxyPlatform.Http;

namespace ProxyPlatform.DataPlane.Hosting;

/// <summary>
/// The worker's proxy, ops, optional h2c and TLS listeners, with the ports they were bound to
/// (<c>Proxy:Url</c>, <c>Ops:Url</c>, <c>Proxy:H2cUrl</c> and <c>Proxy:HttpsUrl</c> may ask for port 0).
/// </summary>
public sealed record WorkerListeners(ListenerAddress Proxy, ListenerAddress Ops, ListenerAddress? H2c, ListenerAddress? Https = null);
