using Microsoft.Extensions.DependencyInjection.Extensions;

namespace ProxyPlatform.DataPlane.ConfigStream;

public static class ConfigStreamServices
{
    /// <summary>The configuration stream to the control plane and its counters.</summary>
    public static IServiceCollection AddConfigStream(this IServiceCollection services)
    {
        services.TryAddSingleton<ConfigStreamStats>();
        services.AddSingleton<ConfigStreamClient>();
        services.TryAddSingleton<Ops.WorkerDrain>();
        services.AddSingleton<IStreamReporter, Ops.WorkerStatusReporter>();
        services.AddHostedService(sp => sp.GetRequiredService<ConfigStreamClient>());
        return services;
    }
}
