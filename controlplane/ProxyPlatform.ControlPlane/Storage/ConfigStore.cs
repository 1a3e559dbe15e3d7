using Npgsql;
using NpgsqlTypes;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>
/// The distributed configuration in PostgreSQL: one row per resource and pool, stamped with the
/// revision of its last change (a removal leaves a row with a null spec, a tombstone), and the
/// global revision sequence. "Changes since revision R" is then a range scan on (pool, revision).
/// The rows are the state of the configuration grains: they load them when they activate, and a
/// commit is their only write.
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
        new("config", 3, "what the control plane keeps beside a resource's spec (a cluster's per-backend revisions)", """
            ALTER TABLE config_resources ADD COLUMN IF NOT EXISTS meta jsonb;
            """),
        new("config", 4, "the tenant whose change each revision is", """
            ALTER TABLE config_commits ADD COLUMN IF NOT EXISTS tenant text;
            """),
        new("config", 5, "how far each pool's tombstones have been pruned", """
            CREATE TABLE IF NOT EXISTS config_pruned (
                pool    text   PRIMARY KEY,
                through bigint NOT NULL
            );
            """),
        new("config", 6, "a pool's commits in order, for its workers' lag and convergence", """
            CREATE INDEX IF NOT EXISTS config_commits_by_pool ON config_commits (pool, revision);
            """),
        // Version 7: the history the commit appends to (its historied step).
        .. ConfigHistory.Migrations,
    ];

    /// <summary>
    /// Writes each change at its own new revision, all in one transaction, and returns the
    /// revisions in the order of the changes. The per-pool advisory lock makes revisions commit
    /// in the order they were drawn within a pool, so a reader that has seen revision R can never
    /// later find a smaller one appear.
    /// </summary>
    /// <remarks>
    /// The lock and the write go to PostgreSQL as one batch, which runs as one implicit transaction
    /// committed at its end: one round trip per commit. The revisions are drawn inside the statement
    /// and handed out in ascending order, the smallest to the first change, whatever order the
    /// sequence is read in. The method returns only once the transaction is committed.
    /// </remarks>
    public async Task<IReadOnlyList<long>> CommitAsync(string pool, IReadOnlyList<IReadOnlyList<ConfigEntry>> changes, CancellationToken ct = default)
    {
        // The newest change of each resource wins; one statement may not touch a row twice.
        var rows = new Dictionary<ResourceKey, (int Change, string? Json, string? Meta)>();
        for (var i = 0; i < changes.Count; i++)
        {
            foreach (var entry in changes[i])
                rows[entry.Key] = (i + 1, entry.Json, entry.Meta);
        }

        await using var batch = db.CreateBatch();
        var lockPool = new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock(hashtext('config-pool:' || $1))");
        lockPool.Parameters.AddWithValue(pool);
        batch.BatchCommands.Add(lockPool);
        var write = new NpgsqlBatchCommand(CommitSql);
        write.Parameters.AddWithValue(pool);
        write.Parameters.AddWithValue(changes.Count);
        write.Parameters.AddWithValue(rows.Keys.Select(k => (short)k.Kind).ToArray());
        write.Parameters.AddWithValue(rows.Keys.Select(k => k.Tenant).ToArray());
        write.Parameters.AddWithValue(rows.Keys.Select(k => k.Id).ToArray());
        write.Parameters.AddWithValue(rows.Values.Select(v => v.Change).ToArray());
        write.Parameters.Add(new NpgsqlParameter { Value = rows.Values.Select(v => v.Json).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        write.Parameters.AddWithValue(changes.Select(c => c.Count).ToArray());
        write.Parameters.Add(new NpgsqlParameter { Value = rows.Values.Select(v => v.Meta).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        // Every change is one tenant's (its own entry, or its resources').
        write.Parameters.AddWithValue(changes.Select(c => c[0].Key.Tenant).ToArray());
        batch.BatchCommands.Add(write);

        var revisions = new List<long>(changes.Count);
        await using (var reader = await batch.ExecuteReaderAsync(ct))
        {
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
                revisions.Add(reader.GetInt64(0));
            // Reading to the end takes in the outcome of the commit itself.
            while (await reader.NextResultAsync(ct))
            {
            }
        }
        if (revisions.Count != changes.Count)
            throw new InvalidOperationException($"Committing {changes.Count} change(s) to pool '{pool}' returned {revisions.Count} revision(s).");
        return revisions;
    }

    private const string CommitSql = """
        WITH drawn AS MATERIALIZED (
            SELECT nextval('config_revision') AS revision FROM generate_series(1, $2)
        ), numbered AS MATERIALIZED (
            SELECT revision, row_number() OVER (ORDER BY revision) AS change FROM drawn
        ), upserted AS (
            INSERT INTO config_resources (pool, kind, tenant, id, revision, spec, meta)
            SELECT $1, x.k, x.t, x.i, n.revision, x.s::jsonb, x.m::jsonb
            FROM unnest($3::smallint[], $4::text[], $5::text[], $6::int[], $7::text[], $9::text[]) AS x(k, t, i, c, s, m)
            JOIN numbered n ON n.change = x.c
            ON CONFLICT (pool, kind, tenant, id)
            DO UPDATE SET revision = EXCLUDED.revision, spec = EXCLUDED.spec, meta = EXCLUDED.meta, updated_at = now()
            RETURNING pool, kind, tenant, id, revision, spec
        ), historied AS (
            INSERT INTO config_history (revision, pool, kind, tenant, id, spec)
            SELECT revision, pool, kind, tenant, id, spec FROM upserted WHERE kind IN (2, 3)
        ), logged AS (
            INSERT INTO config_commits (revision, pool, changes, tenant)
            SELECT n.revision, $1, x.size, x.tenant
            FROM unnest($8::int[], $10::text[]) WITH ORDINALITY AS x(size, tenant, change)
            JOIN numbered n ON n.change = x.change
        )
        SELECT revision FROM numbered ORDER BY change
        """;

    /// <summary>
    /// The pool's own revisions after <paramref name="after"/>, newest first, at most <paramref name="limit"/>:
    /// how far behind a worker of the pool that has applied <paramref name="after"/> is.
    /// </summary>
    public async Task<List<long>> PoolRevisionsAfterAsync(string pool, long after, int limit, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("SELECT revision FROM config_commits WHERE revision > $2 AND pool = $1 ORDER BY revision DESC LIMIT $3");
        command.Parameters.AddWithValue(pool);
        command.Parameters.AddWithValue(after);
        command.Parameters.AddWithValue(limit);
        var revisions = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            revisions.Add(reader.GetInt64(0));
        return revisions;
    }

    /// <summary>The pool a revision was committed to and the tenant whose change it was, or null when no such revision was committed.</summary>
    public async Task<(string Pool, string? Tenant)?> CommitOfAsync(long revision, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("SELECT pool, tenant FROM config_commits WHERE revision = $1");
        command.Parameters.AddWithValue(revision);
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1)) : null;
    }

    /// <summary>
    /// The pool's newest commits (at most <paramref name="limit"/>, committed after <paramref name="since"/>), newest
    /// first, and the newest of the pool's commits left out (older or past the limit), if there is one.
    /// </summary>
    public async Task<(IReadOnlyList<(long Revision, DateTimeOffset CommittedAt)> NewestFirst, long? LeftOut)> RecentCommitsAsync(
        string pool, DateTimeOffset since, int limit, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("""
            SELECT revision, committed_at, committed_at > $2 FROM config_commits WHERE pool = $1 ORDER BY revision DESC LIMIT $3
            """);
        command.Parameters.AddWithValue(pool);
        command.Parameters.AddWithValue(since);
        command.Parameters.AddWithValue(limit + 1);
        var commits = new List<(long, DateTimeOffset)>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            // The first one too old, or one past the limit: it and every older one are left out.
            if (commits.Count == limit || !reader.GetBoolean(2))
                return (commits, reader.GetInt64(0));
            commits.Add((reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1)));
        }
        return (commits, null);
    }

    /// <summary>How many revisions the pool committed in (<paramref name="after"/>, <paramref name="through"/>], and when the first of them was.</summary>
    public async Task<(long Count, DateTimeOffset? Oldest)> CommitsBetweenAsync(string pool, long after, long through, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("""
            SELECT count(*), min(committed_at) FROM config_commits WHERE pool = $1 AND revision > $2 AND revision <= $3
            """);
        command.Parameters.AddWithValue(pool);
        command.Parameters.AddWithValue(after);
        command.Parameters.AddWithValue(through);
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<DateTimeOffset>(1));
    }

    /// <summary>
    /// Deletes the pool's tombstones at or below <paramref name="through"/> and records that it did, in
    /// one transaction: a pool's distribution grain that loads the rows afterwards knows that changes
    /// from before that revision can no longer be told as a delta. Returns the rows deleted.
    /// </summary>
    public async Task<int> PruneAsync(string pool, long through, CancellationToken ct = default)
    {
        await using var batch = db.CreateBatch();
        var delete = new NpgsqlBatchCommand("DELETE FROM config_resources WHERE pool = $1 AND revision <= $2 AND spec IS NULL");
        delete.Parameters.AddWithValue(pool);
        delete.Parameters.AddWithValue(through);
        batch.BatchCommands.Add(delete);
        var record = new NpgsqlBatchCommand("""
            INSERT INTO config_pruned (pool, through) VALUES ($1, $2)
            ON CONFLICT (pool) DO UPDATE SET through = GREATEST(config_pruned.through, EXCLUDED.through)
            """);
        record.Parameters.AddWithValue(pool);
        record.Parameters.AddWithValue(through);
        batch.BatchCommands.Add(record);
        await batch.ExecuteNonQueryAsync(ct);
        return batch.BatchCommands[0].RecordsAffected;
    }

    /// <summary>The revision at or below which the pool's tombstones have been pruned (0: none ever were).</summary>
    public async Task<long> PrunedThroughAsync(string pool, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("SELECT through FROM config_pruned WHERE pool = $1");
        command.Parameters.AddWithValue(pool);
        return await command.ExecuteScalarAsync(ct) is long through ? through : 0;
    }

    /// <summary>Every resource of the pool, removals included.</summary>
    public async Task<List<ConfigEntry>> LoadPoolAsync(string pool, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("SELECT kind, tenant, id, revision, spec::text, NULL FROM config_resources WHERE pool = $1");
        command.Parameters.AddWithValue(pool);
        return await ReadEntriesAsync(command, ct);
    }

    /// <summary>The newest row of a resource in any pool (a tenant's resources move with the tenant).</summary>
    public async Task<ConfigEntry?> GetLatestAsync(ResourceKey key, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("""
            SELECT kind, tenant, id, revision, spec::text, meta::text FROM config_resources
            WHERE kind = $1 AND tenant = $2 AND id = $3 ORDER BY revision DESC LIMIT 1
            """);
        command.Parameters.AddWithValue((short)key.Kind);
        command.Parameters.AddWithValue(key.Tenant);
        command.Parameters.AddWithValue(key.Id);
        var rows = await ReadEntriesAsync(command, ct);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>The live resources of a kind, for one tenant or for all; ordered by tenant and ID.</summary>
    public async Task<List<ConfigEntry>> ListAsync(ResourceKind kind, string? tenant, CancellationToken ct = default)
    {
        // Two statements rather than "tenant = $2 OR $2 IS NULL": each is prepared once and reused,
        // and a reused plan of the latter could not use the index on the tenant.
        await using var command = db.CreateCommand(tenant is null
            ? """
              SELECT DISTINCT ON (tenant, id) kind, tenant, id, revision, spec::text, meta::text FROM config_resources
              WHERE kind = $1 ORDER BY tenant, id, revision DESC
              """
            : """
              SELECT DISTINCT ON (tenant, id) kind, tenant, id, revision, spec::text, meta::text FROM config_resources
              WHERE kind = $1 AND tenant = $2 ORDER BY tenant, id, revision DESC
              """);
        command.Parameters.AddWithValue((short)kind);
        if (tenant is not null)
            command.Parameters.AddWithValue(tenant);
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
                new ResourceKey((ResourceKind)reader.GetInt16(0), reader.GetString(1), reader.GetString(2)),
                reader.GetInt64(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5)));
        }
        return entries;
    }
}
