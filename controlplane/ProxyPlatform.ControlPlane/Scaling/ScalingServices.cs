namespace ProxyPlatform.ControlPlane.Scaling;

public static class ScalingServices
{
    /// <summary>The replica provider <c>Scaling:Provider</c> names, and the reconcilers that drive it.</summary>
    public static WebApplicationBuilder AddScaling(this WebApplicationBuilder builder)
    {
        var options = ScalingOptions.From(builder.Configuration);
        builder.Services.AddSingleton(options);
        // Autoscale sets a pool's replicas through the same merge patch as an operator; any provider then acts on it.
        builder.Services.AddSingleton(Autoscale.AutoscaleOptions.From(builder.Configuration));
        builder.Services.AddHostedService<Autoscale.AutoscaleTicker>();
        switch (options.Provider)
        {
            case ScalingOptions.NoProvider:
                builder.Services.AddSingleton<IReplicaProvider, NoReplicaProvider>();
                break;
            case ScalingOptions.KubernetesProvider:
                var kubernetes = Kubernetes.KubernetesScalingOptions.From(builder.Configuration);
                builder.Services.AddSingleton(kubernetes);
                builder.Services.AddSingleton(_ => Kubernetes.KubernetesReplicaProvider.CreateClient(kubernetes));
                builder.Services.AddSingleton<IReplicaProvider, Kubernetes.KubernetesReplicaProvider>();
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
