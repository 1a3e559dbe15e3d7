using Npgsql;
using ProxyPlatform.Testing;

namespace ProxyPlatform.Storage.Tests;

/// <summary>The shared test server: one per process, a fresh database per caller.</summary>
public sealed class PostgresServerTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_caller_shares_one_server_and_gets_its_own_database()
    {
        var server = await PostgresServer.GetAsync();
        Assert.Same(server, await PostgresServer.GetAsync());

        var first = await server.CreateDatabaseAsync("Server Tests!");
        var second = await server.CreateDatabaseAsync("Server Tests!");

        Assert.NotEqual(new NpgsqlConnectionStringBuilder(first).Database, new NpgsqlConnectionStringBuilder(second).Database);
        Assert.StartsWith("server_tests__", new NpgsqlConnectionStringBuilder(first).Database, StringComparison.Ordinal);
        await using var db = NpgsqlDataSource.Create(first);
        await using var command = db.CreateCommand("SELECT current_database(), current_setting('server_encoding')");
        await using var reader = await command.ExecuteReaderAsync(Cancel);
        Assert.True(await reader.ReadAsync(Cancel));
        Assert.Equal(new NpgsqlConnectionStringBuilder(first).Database, reader.GetString(0));
        Assert.Equal("UTF8", reader.GetString(1));
    }
}
