using ProxyPlatform.Http;

namespace ProxyPlatform.ControlPlane.Hosting;

/// <summary>The control plane's REST admin and gRPC listeners, with the ports they were bound to (<c>Admin:Url</c> and <c>Grpc:Url</c> may ask for port 0).</summary>
public sealed record ControlPlaneListeners(ListenerAddress Admin, ListenerAddress Grpc);
