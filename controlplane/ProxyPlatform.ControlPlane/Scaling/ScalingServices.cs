namespace ProxyPlatform.ControlPlane.Scaling;

public static class ScalingServices
{
    /// <summary>The replica provider <c>Scaling:Provider</c> names, and the reconcilers that drive it.</summary>
    public static WebApplicationBuilder AddScaling(this WebApplicationBuilder builder)
    {
        var options = ScalingOptions.From(builder.Configuration);
        builder.Services.AddSingleton(options);
        switch (options.Provider)
        {
            case ScalingOptions.NoProvider:
                builder.Services.AddSingleton<IReplicaProvider, NoReplicaProvider>();
                break;
            case ScalingOptions.ProcessProvider:
                builder.Services.AddSingleton<IReplicaProvider, ProcessReplicaProvider>();
                break;
            default:
                throw new InvalidOperationException($"Scaling:Provider {options.Provider} is not available in this build.");
        }
        builder.Services.AddHostedService<ReconcilerWakeUp>();
        return builder;
    }
}
