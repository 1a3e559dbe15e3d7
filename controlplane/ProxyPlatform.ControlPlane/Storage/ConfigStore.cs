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
    /// Writes each change at its own new revision, all in one transaction, and returns the
    /// revisions in the order of the changes. The per-pool advisory lock makes revisions commit
    /// in the order they were drawn within a pool, so a reader that has seen revision R can never
    /// later find a smaller one appear.
    /// </summary>
    public async Task<IReadOnlyList<long>> CommitAsync(string pool, IReadOnlyList<IReadOnlyList<ConfigEntry>> changes, CancellationToken ct = default)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using (var lockPool = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('config-pool:' || $1))", connection, tx))
        {
            lockPool.Parameters.AddWithValue(pool);
            await lockPool.ExecuteNonQueryAsync(ct);
        }
        var revisions = new List<long>(changes.Count);
        await using (var next = new NpgsqlCommand("SELECT nextval('config_revision') FROM generate_series(1, $1)", connection, tx))
        {
            next.Parameters.AddWithValue(changes.Count);
            await using var reader = await next.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                revisions.Add(reader.GetInt64(0));
        }
        revisions.Sort();

        // The newest change of each resource wins; one statement may not touch a row twice.
        var rows = new Dictionary<ConfigKey, (long Revision, string? Json)>();
        for (var i = 0; i < changes.Count; i++)
        {
            foreach (var entry in changes[i])
                rows[entry.Key] = (revisions[i], entry.Json);
        }
        await using (var upsert = new NpgsqlCommand("""
            INSERT INTO config_resources (pool, kind, tenant, id, revision, spec)
            SELECT $1, k, t, i, r, s::jsonb FROM unnest($2::smallint[], $3::text[], $4::text[], $5::bigint[], $6::text[]) AS x(k, t, i, r, s)
            ON CONFLICT (pool, kind, tenant, id)
            DO UPDATE SET revision = EXCLUDED.revision, spec = EXCLUDED.spec, updated_at = now()
            """, connection, tx))
        {
            upsert.Parameters.AddWithValue(pool);
            upsert.Parameters.AddWithValue(rows.Keys.Select(k => (short)k.Kind).ToArray());
            upsert.Parameters.AddWithValue(rows.Keys.Select(k => k.Tenant).ToArray());
            upsert.Parameters.AddWithValue(rows.Keys.Select(k => k.Id).ToArray());
            upsert.Parameters.AddWithValue(rows.Values.Select(v => v.Revision).ToArray());
            upsert.Parameters.Add(new NpgsqlParameter { Value = rows.Values.Select(v => v.Json).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            await upsert.ExecuteNonQueryAsync(ct);
        }
        await using (var log = new NpgsqlCommand(
            "INSERT INTO config_commits (revision, pool, changes) SELECT r, $1, c FROM unnest($2::bigint[], $3::int[]) AS x(r, c)", connection, tx))
        {
            log.Parameters.AddWithValue(pool);
            log.Parameters.AddWithValue(revisions.ToArray());
            log.Parameters.AddWithValue(changes.Select(c => c.Count).ToArray());
            await log.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return revisions;
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
