using ProxyPlatform.DataPlane.ConfigStream;

namespace ProxyPlatform.DataPlane.Health;

public static class HealthServices
{
    /// <summary>Active health probes of the backends this worker serves, and their reports on the configuration stream.</summary>
    public static IServiceCollection AddHealthProbes(this IServiceCollection services)
    {
        services.AddSingleton<HealthViews>();
        services.AddHostedService<HealthProber>();
        services.AddSingleton<IStreamReporter, HealthReporter>();
        return services;
    }
}
