using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans;
using Orleans.Hosting;
using Orleans.Storage;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Testing;

namespace ProxyPlatform.Storage.Tests;

/// <summary>A real in-process Orleans silo keeping grain state in PostgreSQL through NpgsqlGrainStorage.</summary>
public sealed class SiloTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static Task<IHost> StartSiloAsync(NpgsqlDataSource db) =>
        StartSiloAsync(silo => silo.AddNpgsqlGrainStorageAsDefault(db));

    private static async Task<IHost> StartSiloAsync(Action<ISiloBuilder> storage)
    {
        var host = Host.CreateDefaultBuilder()
            .ConfigureLogging(logging => logging.ClearProviders())
            .UseOrleans(silo =>
            {
                // Orleans advertises these before it binds them, so they cannot be 0: reserved ones instead.
                silo.UseLocalhostClustering(siloPort: ReservedPorts.Take(), gatewayPort: ReservedPorts.Take());
                storage(silo);
            })
            .Build();
        await host.StartAsync(Cancel);
        return host;
    }

    [Fact]
    public async Task Grain_state_survives_a_silo_restart()
    {
        var server = await PostgresServer.GetAsync();
        await using var db = NpgsqlDataSource.Create(await server.CreateDatabaseAsync("silo_restart"));
        await PostgresSchema.MigrateAsync(db, NpgsqlGrainStorage.Migrations, Cancel);

        using (var first = await StartSiloAsync(db))
        {
            var counter = first.Services.GetRequiredService<IGrainFactory>().GetGrain<ICounterGrain>("acme");
            for (var i = 0; i < 3; i++)
                await counter.IncrementAsync();
            await first.StopAsync(Cancel);
        }

        using var second = await StartSiloAsync(db);
        var restarted = second.Services.GetRequiredService<IGrainFactory>().GetGrain<ICounterGrain>("acme");
        Assert.Equal(3, await restarted.GetAsync());
        Assert.Equal(4, await restarted.IncrementAsync());
        await second.StopAsync(Cancel);

        await using var query = db.CreateCommand("SELECT (state->>'value')::int FROM grain_state WHERE state_name = 'counter' AND grain_key = 'acme'");
        Assert.Equal(4, (int)(await query.ExecuteScalarAsync(Cancel))!);
    }

    [Fact]
    public async Task A_silo_with_a_named_provider_migrates_the_storage_schema_as_it_starts()
    {
        var server = await PostgresServer.GetAsync();
        await using var db = NpgsqlDataSource.Create(await server.CreateDatabaseAsync("silo_schema"));

        using var host = await StartSiloAsync(silo => silo.AddNpgsqlGrainStorage("config", _ => db));

        Assert.IsType<NpgsqlGrainStorage>(host.Services.GetRequiredKeyedService<IGrainStorage>("config"));
        await using var query = db.CreateCommand("SELECT count(*) FROM schema_migrations WHERE component = 'grain-storage'");
        Assert.Equal(1L, await query.ExecuteScalarAsync(Cancel));
        await host.StopAsync(Cancel);
    }
}
