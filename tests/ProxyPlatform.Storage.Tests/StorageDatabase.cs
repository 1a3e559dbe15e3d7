using Npgsql;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Testing;

namespace ProxyPlatform.Storage.Tests;

/// <summary>A fresh database on the run's PostgreSQL for one test class, with the grain-storage schema applied.</summary>
public sealed class StorageDatabase : IAsyncLifetime
{
    public string ConnectionString { get; private set; } = "";
    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var server = await PostgresServer.GetAsync();
        ConnectionString = await server.CreateDatabaseAsync("storage_tests");
        DataSource = NpgsqlDataSource.Create(ConnectionString);
        await PostgresSchema.MigrateAsync(DataSource, NpgsqlGrainStorage.Migrations, TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (DataSource is not null)
            await DataSource.DisposeAsync();
    }
}
