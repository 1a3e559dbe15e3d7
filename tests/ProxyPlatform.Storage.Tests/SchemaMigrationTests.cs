using Npgsql;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Testing;

namespace ProxyPlatform.Storage.Tests;

/// <summary>PostgresSchema: versioned, idempotent, and safe when several silos start at once.</summary>
public sealed class SchemaMigrationTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static readonly SchemaMigration[] Widgets =
    [
        new("widgets", 1, "widgets table", "CREATE TABLE widgets (id int PRIMARY KEY, name text NOT NULL)"),
        new("widgets", 2, "widget colour", "ALTER TABLE widgets ADD COLUMN colour text"),
    ];

    private static async Task<NpgsqlDataSource> FreshDatabaseAsync()
    {
        var server = await PostgresServer.GetAsync();
        return NpgsqlDataSource.Create(await server.CreateDatabaseAsync("schema_tests"));
    }

    private static async Task<List<(string Component, int Version)>> LedgerAsync(NpgsqlDataSource db)
    {
        var rows = new List<(string, int)>();
        await using (var exists = db.CreateCommand("SELECT to_regclass('schema_migrations') IS NOT NULL"))
        {
            if (!(bool)(await exists.ExecuteScalarAsync(Cancel))!)
                return rows;
        }
        await using var command = db.CreateCommand("SELECT component, version FROM schema_migrations ORDER BY component, version");
        await using var reader = await command.ExecuteReaderAsync(Cancel);
        while (await reader.ReadAsync(Cancel))
            rows.Add((reader.GetString(0), reader.GetInt32(1)));
        return rows;
    }

    [Fact]
    public async Task Migrations_run_concurrently_from_four_silos_apply_each_version_once()
    {
        await using var db = await FreshDatabaseAsync();
        SchemaMigration[] all = [.. NpgsqlGrainStorage.Migrations, .. Widgets];

        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var silos = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            await start.Task.WaitAsync(Cancel);
            return await PostgresSchema.MigrateAsync(db, all, Cancel);
        }, Cancel)).ToList();
        start.SetResult();
        var applied = await Task.WhenAll(silos);

        Assert.Equal(all.Length, applied.Sum(a => a.Count));
        Assert.Single(applied, a => a.Count > 0);
        Assert.Equal([("grain-storage", 1), ("widgets", 1), ("widgets", 2)], await LedgerAsync(db));

        var again = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => PostgresSchema.MigrateAsync(db, all, Cancel)));
        Assert.All(again, a => Assert.Empty(a));
        Assert.Equal([("grain-storage", 1), ("widgets", 1), ("widgets", 2)], await LedgerAsync(db));
    }

    [Fact]
    public async Task A_new_version_applies_only_what_is_missing()
    {
        await using var db = await FreshDatabaseAsync();
        await PostgresSchema.MigrateAsync(db, Widgets[..1], Cancel);

        var applied = await PostgresSchema.MigrateAsync(db, Widgets, Cancel);

        Assert.Equal([Widgets[1]], applied);
        await using var insert = db.CreateCommand("INSERT INTO widgets (id, name, colour) VALUES (1, 'w', 'red')");
        Assert.Equal(1, await insert.ExecuteNonQueryAsync(Cancel));
    }

    [Fact]
    public async Task A_failing_migration_changes_nothing_and_is_not_recorded()
    {
        await using var db = await FreshDatabaseAsync();
        SchemaMigration[] broken = [Widgets[0], new("widgets", 2, "broken", "ALTER TABLE no_such_table ADD COLUMN x int")];

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => PostgresSchema.MigrateAsync(db, broken, Cancel));
        Assert.Contains("widgets v2", error.Message, StringComparison.Ordinal);

        await using var exists = db.CreateCommand("SELECT to_regclass('widgets') IS NOT NULL");
        Assert.False((bool)(await exists.ExecuteScalarAsync(Cancel))!);
        Assert.Empty(await LedgerAsync(db));

        Assert.Equal(2, (await PostgresSchema.MigrateAsync(db, Widgets, Cancel)).Count);
    }

    [Fact]
    public async Task Migrations_of_one_component_listed_out_of_order_are_refused()
    {
        await using var db = await FreshDatabaseAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => PostgresSchema.MigrateAsync(db, [Widgets[1], Widgets[0]], Cancel));
        await Assert.ThrowsAsync<ArgumentException>(() => PostgresSchema.MigrateAsync(db, [Widgets[0], Widgets[0]], Cancel));
    }
}
