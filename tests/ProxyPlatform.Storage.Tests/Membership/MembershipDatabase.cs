using Npgsql;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Testing;

namespace ProxyPlatform.Storage.Tests.Membership;

/// <summary>A fresh database on the run's PostgreSQL for one test class, with the membership schema applied.</summary>
public sealed class MembershipDatabase : IAsyncLifetime
{
    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var server = await PostgresServer.GetAsync();
        DataSource = NpgsqlDataSource.Create(await server.CreateDatabaseAsync("membership_tests"));
        await PostgresSchema.MigrateAsync(DataSource, NpgsqlMembershipTable.Migrations, TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (DataSource is not null)
            await DataSource.DisposeAsync();
    }
}
