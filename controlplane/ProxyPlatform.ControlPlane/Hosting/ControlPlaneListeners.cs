using ProxyPlatform.Http;

namespace ProxyPlatform.ControlPlane.Hosting;

/// <summary>
/// The control plane's three listeners, with the ports they were bound to (each URL may ask for port
/// 0): the REST admin API, gRPC (admin and the workers' stream), and ops (health, readiness, metrics;
/// no credentials, so never public).
/// </summary>
public sealed record ControlPlaneListeners(ListenerAddress Admin, ListenerAddress Grpc, ListenerAddress Ops);
