using Npgsql;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>
/// Every committed version of every cluster and route (<c>config_history</c>, append-only), written by
/// <see cref="ConfigStore"/>'s commit in the same statement as the change, so a tenant's configuration can
/// be read as it was at any revision within retention (DESIGN.md, "Operations": history and rollback).
/// </summary>
/// <remarks>
/// A resource's state at revision N is its newest row at or below N (a null spec: it did not exist).
/// Rows below the <em>horizon</em> may have been pruned, so no revision below it is answered. The
/// migration seeds the table with the rows that exist when it runs and sets the horizon there: what
/// happened before history existed is not known.
/// </remarks>
public sealed class ConfigHistory(NpgsqlDataSource db)
{
    /// <summary>Resource kinds with history: those a configuration document holds (<c>kind IN (2, 3)</c> in the commit).</summary>
    public static readonly IReadOnlyList<ResourceKind> Kinds = [ResourceKind.Cluster, ResourceKind.Route];

    public static readonly IReadOnlyList<SchemaMigration> Migrations =
    [
        new("config", 7, "every committed version of clusters and routes, for history and rollback", """
            CREATE TABLE IF NOT EXISTS config_history (
                revision     bigint      NOT NULL,
                pool         text        NOT NULL,
                kind         smallint    NOT NULL,
                tenant       text        NOT NULL,
                id           text        NOT NULL,
                spec         jsonb,
                committed_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant, kind, id, revision)
            );
            CREATE TABLE IF NOT EXISTS config_history_horizon (
                one     boolean PRIMARY KEY DEFAULT true CHECK (one),
                through bigint  NOT NULL
            );
            INSERT INTO config_history (revision, pool, kind, tenant, id, spec)
            SELECT revision, pool, kind, tenant, id, spec FROM config_resources WHERE kind IN (2, 3)
            ON CONFLICT DO NOTHING;
            INSERT INTO config_history_horizon (through)
            SELECT coalesce(max(revision), 0) FROM config_commits
            ON CONFLICT DO NOTHING;
            """),
    ];

    /// <summary>
    /// Throws a problem naming <c>revision</c> unless the tenant's configuration at <paramref name="revision"/>
    /// is known: committed already, not below the horizon, and committed within <paramref name="retention"/>.
    /// </summary>
    public async Task EnsureKnownAsync(long revision, TimeSpan retention, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("""
            SELECT (SELECT coalesce(max(revision), 0) FROM config_commits),
                   (SELECT coalesce(max(through), 0) FROM config_history_horizon),
                   (SELECT committed_at FROM config_commits WHERE revision <= $1 ORDER BY revision DESC LIMIT 1)
            """);
        command.Parameters.AddWithValue(revision);
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var newest = reader.GetInt64(0);
        var horizon = reader.GetInt64(1);
        DateTimeOffset? committedAt = reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2);
        if (revision > newest)
            throw Unknown($"Revision {revision} has not been committed yet; the newest is {newest}.");
        if (revision < horizon || committedAt is null || committedAt < DateTimeOffset.UtcNow - retention)
            throw Unknown($"Revision {revision} is outside the history kept (History:RetentionDays is {retention.TotalDays:0.##}; the oldest revision kept is {Math.Max(horizon, 1)}).");
    }

    private static AdminException Unknown(string message) =>
        new(AdminErrorKind.NotFound, message, [new Configuration.FieldError("revision", message)]);

    /// <summary>The tenant's clusters and routes as they were at <paramref name="revision"/> (live ones only), ordered by kind and ID.</summary>
    public async Task<List<ConfigEntry>> AsOfAsync(string tenant, long revision, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("""
            SELECT kind, id, revision, spec::text FROM (
                SELECT DISTINCT ON (kind, id) kind, id, revision, spec FROM config_history
                WHERE tenant = $1 AND kind IN (2, 3) AND revision <= $2
                ORDER BY kind, id, revision DESC
            ) latest WHERE spec IS NOT NULL ORDER BY kind, id
            """);
        command.Parameters.AddWithValue(tenant);
        command.Parameters.AddWithValue(revision);
        var entries = new List<ConfigEntry>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            entries.Add(new ConfigEntry(new ResourceKey((ResourceKind)reader.GetInt16(0), tenant, reader.GetString(1)), reader.GetInt64(2), reader.GetString(3)));
        return entries;
    }

    /// <summary>The tenant's current clusters and routes with their meta, and the revision of its newest change to any of them (0: none).</summary>
    public async Task<(List<ConfigEntry> Entries, long Revision)> CurrentAsync(string tenant, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("""
            SELECT DISTINCT ON (kind, id) kind, id, revision, spec::text, meta::text FROM config_resources
            WHERE tenant = $1 AND kind IN (2, 3) ORDER BY kind, id, revision DESC
            """);
        command.Parameters.AddWithValue(tenant);
        var entries = new List<ConfigEntry>();
        long newest = 0;
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var revision = reader.GetInt64(2);
            newest = Math.Max(newest, revision);
            if (reader.IsDBNull(3))
                continue;
            entries.Add(new ConfigEntry(new ResourceKey((ResourceKind)reader.GetInt16(0), tenant, reader.GetString(1)), revision,
                reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
        }
        return (entries, newest);
    }

    /// <summary>
    /// Forgets what no revision within retention needs: rows superseded at or below the newest revision
    /// committed before <paramref name="before"/>, and removals at or below it (nothing before them is kept);
    /// then moves the horizon up to that revision. Returns the rows deleted.
    /// </summary>
    public async Task<int> PruneAsync(DateTimeOffset before, CancellationToken ct = default)
    {
        await using var prune = db.CreateCommand("""
            WITH cut AS (
                SELECT revision FROM config_commits WHERE committed_at < $1 ORDER BY committed_at DESC, revision DESC LIMIT 1
            ), doomed AS (
                SELECT h.tenant, h.kind, h.id, h.revision FROM config_history h, cut
                WHERE h.revision <= cut.revision AND (
                    h.spec IS NULL
                    OR EXISTS (SELECT 1 FROM config_history n WHERE n.tenant = h.tenant AND n.kind = h.kind AND n.id = h.id
                               AND n.revision > h.revision AND n.revision <= cut.revision))
            ), deleted AS (
                DELETE FROM config_history h USING doomed d
                WHERE h.tenant = d.tenant AND h.kind = d.kind AND h.id = d.id AND h.revision = d.revision
                RETURNING 1
            ), moved AS (
                UPDATE config_history_horizon SET through = GREATEST(through, cut.revision) FROM cut
            )
            SELECT count(*) FROM deleted
            """);
        prune.Parameters.AddWithValue(before);
        return Convert.ToInt32(await prune.ExecuteScalarAsync(ct) ?? 0, System.Globalization.CultureInfo.InvariantCulture);
    }
}
