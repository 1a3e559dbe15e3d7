using Microsoft.AspNetCore.DataProtection;

namespace ProxyPlatform.DataPlane.Configuration;

public static class ProxyConfigurationServices
{
    /// <summary>
    /// YARP, fed by <see cref="ControlPlaneConfigProvider"/>, and what turns the control plane's
    /// updates into its configuration: the validator, the applier and the last-known-good file.
    /// Needs a <see cref="Hosting.DataPlaneOptions"/> registered.
    /// </summary>
    public static IServiceCollection AddProxyConfiguration(this IServiceCollection services)
    {
        services.AddReverseProxy();
        // YARP's session affinity protects its cookies with data protection; affinity is not offered
        // yet, so keep keys in memory instead of writing a key ring to the home directory.
        services.AddDataProtection().UseEphemeralDataProtectionProvider();
        // Routes with a timeout need the request-timeouts middleware (YARP refuses them otherwise).
        services.AddRequestTimeouts();
        services.AddSingleton<ControlPlaneConfigProvider>();
        services.AddSingleton<Yarp.ReverseProxy.Configuration.IProxyConfigProvider>(sp => sp.GetRequiredService<ControlPlaneConfigProvider>());
        services.AddSingleton<SnapshotValidator>();
        services.AddSingleton<LastKnownGood>();
        services.AddSingleton<ConfigApplier>();
        return services;
    }
}
