using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Hosting;
using Orleans.Providers;
using Orleans.Runtime.Hosting;
using Orleans.Serialization.Serializers;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>Registers <see cref="NpgsqlGrainStorage"/> as a named or the default Orleans grain storage provider.</summary>
public static class NpgsqlGrainStorageSiloBuilderExtensions
{
    /// <summary>Adds the provider as the default grain storage, over a data source the caller owns.</summary>
    public static ISiloBuilder AddNpgsqlGrainStorageAsDefault(
        this ISiloBuilder builder, NpgsqlDataSource dataSource, Action<NpgsqlGrainStorageOptions>? configure = null) =>
        builder.AddNpgsqlGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, dataSource, configure);

    /// <summary>Adds the provider as the default grain storage, over a data source resolved from the silo's services.</summary>
    public static ISiloBuilder AddNpgsqlGrainStorageAsDefault(
        this ISiloBuilder builder, Func<IServiceProvider, NpgsqlDataSource> dataSource, Action<NpgsqlGrainStorageOptions>? configure = null) =>
        builder.AddNpgsqlGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, dataSource, configure);

    /// <summary>
    /// Adds the provider under <paramref name="name"/> (the storage name grains give in
    /// <c>[PersistentState(stateName, storageName)]</c>), over a data source the caller owns.
    /// </summary>
    public static ISiloBuilder AddNpgsqlGrainStorage(
        this ISiloBuilder builder, string name, NpgsqlDataSource dataSource, Action<NpgsqlGrainStorageOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        return builder.AddNpgsqlGrainStorage(name, _ => dataSource, configure);
    }

    /// <summary>Adds the provider under <paramref name="name"/>, over a data source resolved from the silo's services.</summary>
    public static ISiloBuilder AddNpgsqlGrainStorage(
        this ISiloBuilder builder, string name, Func<IServiceProvider, NpgsqlDataSource> dataSource, Action<NpgsqlGrainStorageOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(dataSource);
        builder.Services.AddOptions<NpgsqlGrainStorageOptions>(name);
        if (configure is not null)
            builder.Services.Configure(name, configure);
        builder.Services.AddGrainStorage(name, (services, key) => new NpgsqlGrainStorage(
            dataSource(services),
            services.GetRequiredService<IOptionsMonitor<NpgsqlGrainStorageOptions>>().Get(key),
            services.GetService<IActivatorProvider>()));
        return builder;
    }
}
