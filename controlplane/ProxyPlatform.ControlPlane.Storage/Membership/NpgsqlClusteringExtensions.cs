using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Messaging;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>
/// Registers PostgreSQL as the Orleans clustering provider: <see cref="NpgsqlMembershipTable"/> as
/// the silos' <see cref="IMembershipTable"/>, <see cref="NpgsqlGatewayListProvider"/> as the
/// clients' <see cref="IGatewayListProvider"/>. The cluster is <c>ClusterOptions.ClusterId</c>;
/// the silo's own endpoints (<c>ConfigureEndpoints</c>) are still the host's to configure.
/// </summary>
public static class NpgsqlClusteringExtensions
{
    /// <summary>Keeps the silo's cluster membership in PostgreSQL, over a data source the caller owns.</summary>
    public static ISiloBuilder UseNpgsqlClustering(this ISiloBuilder builder, NpgsqlDataSource dataSource)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        return builder.UseNpgsqlClustering(_ => dataSource);
    }

    /// <summary>Keeps the silo's cluster membership in PostgreSQL, over a data source resolved from the silo's services.</summary>
    public static ISiloBuilder UseNpgsqlClustering(this ISiloBuilder builder, Func<IServiceProvider, NpgsqlDataSource> dataSource)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(dataSource);
        builder.Services.AddSingleton(services => new NpgsqlMembershipTable(
            dataSource(services),
            services.GetRequiredService<IOptions<ClusterOptions>>().Value.ClusterId,
            services.GetService<ILogger<NpgsqlMembershipTable>>()));
        builder.Services.AddSingleton<IMembershipTable>(services => services.GetRequiredService<NpgsqlMembershipTable>());
        return builder;
    }

    /// <summary>Finds the cluster's gateways in PostgreSQL, over a data source the caller owns.</summary>
    public static IClientBuilder UseNpgsqlClustering(this IClientBuilder builder, NpgsqlDataSource dataSource)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        return builder.UseNpgsqlClustering(_ => dataSource);
    }

    /// <summary>Finds the cluster's gateways in PostgreSQL, over a data source resolved from the client's services.</summary>
    public static IClientBuilder UseNpgsqlClustering(this IClientBuilder builder, Func<IServiceProvider, NpgsqlDataSource> dataSource)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(dataSource);
        builder.Services.AddSingleton(services => new NpgsqlGatewayListProvider(
            dataSource(services),
            services.GetRequiredService<IOptions<ClusterOptions>>().Value.ClusterId,
            services.GetRequiredService<IOptions<GatewayOptions>>().Value.GatewayListRefreshPeriod));
        builder.Services.AddSingleton<IGatewayListProvider>(services => services.GetRequiredService<NpgsqlGatewayListProvider>());
        return builder;
    }
}
