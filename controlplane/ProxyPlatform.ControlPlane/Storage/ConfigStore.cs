using Npgsql;
using NpgsqlTypes;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>
/// The distributed configuration in PostgreSQL: one row per resource and pool, stamped with the
/// revision of its last change (a removal leaves a row with a null spec until it is pruned), and
/// the global revision sequence. "Changes since revision R" is then a range scan on (pool, revision).
/// </summary>
public sealed class ConfigStore(NpgsqlDataSource db)
{
    public static readonly IReadOnlyList<SchemaMigration> Migrations =
    [
        new("config", 1, "configuration resources and the revision sequence", """
            CREATE SEQUENCE IF NOT EXISTS config_revision AS bigint;
            CREATE TABLE IF NOT EXISTS config_resources (
                pool       text        NOT NULL,
                kind       smallint    NOT NULL,
                tenant     text        NOT NULL,
                id         text        NOT NULL,
                revision   bigint      NOT NULL,
                spec       jsonb,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (pool, kind, tenant, id)
            );
            CREATE INDEX IF NOT EXISTS config_resources_by_revision ON config_resources (pool, revision);
            CREATE INDEX IF NOT EXISTS config_resources_by_key ON config_resources (kind, tenant, id);
            """),
        new("config", 2, "a row per committed revision: its pool, time and size", """
            CREATE TABLE IF NOT EXISTS config_commits (
                revision     bigint      PRIMARY KEY,
                pool         text        NOT NULL,
                changes      int         NOT NULL,
                committed_at timestamptz NOT NULL DEFAULT now()
            );
            """),
    ];

    /// <summary>
    /// Writes the entries as one change at the next revision and returns that revision. The
    /// per-pool advisory lock makes revisions commit in the order they were drawn within a pool,
    /// so a reader that has seen revision R can never later find a smaller one appear.
    /// </summary>
    public async Task<long> CommitAsync(string pool, IReadOnlyList<ConfigEntry> entries, CancellationToken ct = default)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        long revision;
        await using (var next = new NpgsqlCommand(
            "SELECT pg_advisory_xact_lock(hashtext('config-pool:' || $1)), nextval('config_revision')", connection, tx))
        {
            next.Parameters.AddWithValue(pool);
            await using var reader = await next.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            revision = reader.GetInt64(1);
        }
        await using (var upsert = new NpgsqlCommand("""
            INSERT INTO config_resources (pool, kind, tenant, id, revision, spec)
            SELECT $1, k, t, i, $2, s::jsonb FROM unnest($3::smallint[], $4::text[], $5::text[], $6::text[]) AS x(k, t, i, s)
            ON CONFLICT (pool, kind, tenant, id)
            DO UPDATE SET revision = EXCLUDED.revision, spec = EXCLUDED.spec, updated_at = now()
            """, connection, tx))
        {
            upsert.Parameters.AddWithValue(pool);
            upsert.Parameters.AddWithValue(revision);
            upsert.Parameters.AddWithValue(entries.Select(e => (short)e.Key.Kind).ToArray());
            upsert.Parameters.AddWithValue(entries.Select(e => e.Key.Tenant).ToArray());
            upsert.Parameters.AddWithValue(entries.Select(e => e.Key.Id).ToArray());
            upsert.Parameters.Add(new NpgsqlParameter { Value = entries.Select(e => e.Json).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            await upsert.ExecuteNonQueryAsync(ct);
        }
        await using (var log = new NpgsqlCommand("INSERT INTO config_commits (revision, pool, changes) VALUES ($1, $2, $3)", connection, tx))
        {
            log.Parameters.AddWithValue(revision);
            log.Parameters.AddWithValue(pool);
            log.Parameters.AddWithValue(entries.Count);
            await log.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return revision;
    }

    /// <summary>The pool a revision was committed to, or null when no such revision was committed.</summary>
    public async Task<string?> PoolOfRevisionAsync(long revision, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("SELECT pool FROM config_commits WHERE revision = $1");
        command.Parameters.AddWithValue(revision);
        return await command.ExecuteScalarAsync(ct) as string;
    }

    /// <summary>Every resource of the pool, removals included.</summary>
    public async Task<List<ConfigEntry>> LoadPoolAsync(string pool, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("SELECT kind, tenant, id, revision, spec::text FROM config_resources WHERE pool = $1");
        command.Parameters.AddWithValue(pool);
        return await ReadEntriesAsync(command, ct);
    }

    /// <summary>The newest row of a resource in any pool (a tenant's resources move with the tenant).</summary>
    public async Task<ConfigEntry?> GetLatestAsync(ConfigKey key, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("""
            SELECT kind, tenant, id, revision, spec::text FROM config_resources
            WHERE kind = $1 AND tenant = $2 AND id = $3 ORDER BY revision DESC LIMIT 1
            """);
        command.Parameters.AddWithValue((short)key.Kind);
        command.Parameters.AddWithValue(key.Tenant);
        command.Parameters.AddWithValue(key.Id);
        var rows = await ReadEntriesAsync(command, ct);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>The live resources of a kind, for one tenant or for all; ordered by tenant and ID.</summary>
    public async Task<List<ConfigEntry>> ListAsync(ConfigKind kind, string? tenant, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("""
            SELECT DISTINCT ON (tenant, id) kind, tenant, id, revision, spec::text FROM config_resources
            WHERE kind = $1 AND ($2::text IS NULL OR tenant = $2)
            ORDER BY tenant, id, revision DESC
            """);
        command.Parameters.AddWithValue((short)kind);
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)tenant ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        var rows = await ReadEntriesAsync(command, ct);
        rows.RemoveAll(e => e.IsRemoval);
        return rows;
    }

    private static async Task<List<ConfigEntry>> ReadEntriesAsync(NpgsqlCommand command, CancellationToken ct)
    {
        var entries = new List<ConfigEntry>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            entries.Add(new ConfigEntry(
                new ConfigKey((ConfigKind)reader.GetInt16(0), reader.GetString(1), reader.GetString(2)),
                reader.GetInt64(3),
                reader.IsDBNull(4) ? null : reader.GetString(4)));
        }
        return entries;
    }
}
