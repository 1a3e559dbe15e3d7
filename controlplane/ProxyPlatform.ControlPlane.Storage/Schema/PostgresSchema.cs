using Npgsql;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>
/// Brings a database's schema up to date with the migrations the components of this project
/// declare. Safe to call from every process on every start: a transaction-level advisory lock
/// serializes concurrent callers on the same database, and applied versions are recorded in
/// <c>schema_migrations</c>, so each migration runs exactly once.
/// </summary>
public static class PostgresSchema
{
    /// <summary>The <c>pg_advisory_xact_lock</c> key held while migrating ("ppschema" in ASCII).</summary>
    public const long AdvisoryLockKey = 0x7070_7363_6865_6d61;

    private const string CreateLedgerSql = """
        CREATE TABLE schema_migrations (
            component   text        NOT NULL,
            version     integer     NOT NULL,
            description text        NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (component, version)
        )
        """;

    /// <summary>
    /// Applies, in the order given, every migration not yet recorded in the database, all in one
    /// transaction: either the schema reaches the new version or nothing changes. Within a
    /// component the versions must be listed in increasing order.
    /// </summary>
    /// <returns>The migrations applied by this call (empty when the schema was already current).</returns>
    public static async Task<IReadOnlyList<SchemaMigration>> MigrateAsync(
        NpgsqlDataSource dataSource, IEnumerable<SchemaMigration> migrations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(migrations);
        var wanted = Validate(migrations);

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        await using (var @lock = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, transaction) { CommandTimeout = 0 })
        {
            @lock.Parameters.AddWithValue(AdvisoryLockKey);
            await @lock.ExecuteNonQueryAsync(cancellationToken);
        }
        await using (var exists = new NpgsqlCommand("SELECT to_regclass('schema_migrations') IS NOT NULL", connection, transaction))
        {
            // Only create when missing: a role without CREATE rights can still start against a current schema.
            if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
            {
                await using var ledger = new NpgsqlCommand(CreateLedgerSql, connection, transaction);
                await ledger.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        var applied = new HashSet<(string, int)>();
        await using (var query = new NpgsqlCommand("SELECT component, version FROM schema_migrations", connection, transaction))
        await using (var reader = await query.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
                applied.Add((reader.GetString(0), reader.GetInt32(1)));
        }

        var done = new List<SchemaMigration>();
        foreach (var migration in wanted)
        {
            if (applied.Contains((migration.Component, migration.Version)))
                continue;
            try
            {
                await using (var step = new NpgsqlCommand(migration.Sql, connection, transaction) { CommandTimeout = 0 })
                    await step.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (PostgresException e)
            {
                throw new InvalidOperationException(
                    $"Schema migration {migration.Component} v{migration.Version} ({migration.Description}) failed: {e.MessageText}", e);
            }
            await using (var record = new NpgsqlCommand(
                "INSERT INTO schema_migrations (component, version, description) VALUES ($1, $2, $3)", connection, transaction))
            {
                record.Parameters.AddWithValue(migration.Component);
                record.Parameters.AddWithValue(migration.Version);
                record.Parameters.AddWithValue(migration.Description);
                await record.ExecuteNonQueryAsync(cancellationToken);
            }
            done.Add(migration);
        }

        await transaction.CommitAsync(cancellationToken);
        return done;
    }

    private static List<SchemaMigration> Validate(IEnumerable<SchemaMigration> migrations)
    {
        var list = migrations.ToList();
        var lastVersion = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var m in list)
        {
            ArgumentNullException.ThrowIfNull(m, nameof(migrations));
            if (string.IsNullOrWhiteSpace(m.Component))
                throw new ArgumentException("A schema migration needs a component name.", nameof(migrations));
            if (m.Version < 1)
                throw new ArgumentException($"Schema migration {m.Component} v{m.Version}: versions start at 1.", nameof(migrations));
            if (string.IsNullOrWhiteSpace(m.Sql))
                throw new ArgumentException($"Schema migration {m.Component} v{m.Version} has no SQL.", nameof(migrations));
            if (lastVersion.TryGetValue(m.Component, out var last) && m.Version <= last)
                throw new ArgumentException(
                    $"Schema migrations of {m.Component} must be listed once each in increasing version order (v{m.Version} follows v{last}).",
                    nameof(migrations));
            lastVersion[m.Component] = m.Version;
        }
        return list;
    }
}
