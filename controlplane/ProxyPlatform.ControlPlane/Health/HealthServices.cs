using ProxyPlatform.ControlPlane.Distribution;

namespace ProxyPlatform.ControlPlane.Health;

public static class HealthServices
{
    /// <summary>Health verdicts: the reports workers send on the stream, their store, and the verdict grains' services.</summary>
    public static IServiceCollection AddHealthVerdicts(this IServiceCollection services)
    {
        services.AddSingleton<HealthStore>();
        services.AddSingleton<IWorkerReportHandler, HealthReportHandler>();
        return services;
    }
}
