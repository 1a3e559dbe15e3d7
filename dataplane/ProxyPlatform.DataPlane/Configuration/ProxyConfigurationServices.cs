using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyPlatform.DataPlane.Forwarding;
using ProxyPlatform.DataPlane.Pipeline;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyPlatform.DataPlane.Configuration;

public static class ProxyConfigurationServices
{
    /// <summary>
    /// What turns the control plane's updates into the configuration the worker serves (the
    /// compiler, the applier and the last-known-good file), and the proxy that serves it: YARP's
    /// forwarder behind the worker's own routing table. Needs a <see cref="Hosting.DataPlaneOptions"/>
    /// and a <see cref="ProxyOptions"/> registered.
    /// </summary>
    public static IServiceCollection AddProxyConfiguration(this IServiceCollection services)
    {
        services.AddHttpForwarder();
        services.TryAddSingleton<ConfigStream.ConfigStreamStats>();
        services.TryAddSingleton<Metrics.TrafficRegistry>();
        services.AddSingleton(sp => new Clusters.BackendConnector(sp.GetRequiredService<Hosting.DataPlaneOptions>().OutboundBindAddress));
        services.AddSingleton<SnapshotCompiler>();
        services.AddSingleton<LastKnownGood>();
        services.AddSingleton<LastKnownGoodSaver>();
        services.AddSingleton<ConfigApplier>();
        services.AddSingleton<ProxyTransformer>();
        services.AddSingleton<RequestGuards>();
        services.AddSingleton<ForwardAttempt>();
        services.AddSingleton<RetryingForward>();
        services.AddSingleton<HttpsRedirect>();
        services.AddSingleton<ProxyHandler>();
        services.TryAddSingleton<WebSockets.WebSocketTunnels>();
        services.AddSingleton<Tls.SniCertificateSelector>();
        return services;
    }
}
