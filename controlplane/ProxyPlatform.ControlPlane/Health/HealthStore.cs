using Npgsql;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Health;

/// <summary>
/// The backends' health history in PostgreSQL: one row per change of one backend's verdict, with the
/// counts of worker views behind it and the revision that distributed it. The current verdicts are
/// configuration (the cluster's <c>BackendHealth</c> resource); this is their log.
/// </summary>
public sealed class HealthStore(NpgsqlDataSource db)
{
    /// <summary>Most rows one history read returns.</summary>
    public const int MaxHistory = 1000;

    public static readonly IReadOnlyList<SchemaMigration> Migrations =
    [
        new("health", 1, "backend verdict changes with their counts and revision", """
            CREATE TABLE IF NOT EXISTS health_verdicts (
                id         bigserial   PRIMARY KEY,
                tenant     text        NOT NULL,
                cluster    text        NOT NULL,
                backend    text        NOT NULL,
                verdict    text        NOT NULL,
                failing    int         NOT NULL,
                passing    int         NOT NULL,
                reporting  int         NOT NULL,
                revision   bigint      NOT NULL,
                changed_at timestamptz NOT NULL
            );
            CREATE INDEX IF NOT EXISTS health_verdicts_by_backend ON health_verdicts (tenant, cluster, backend, id DESC);
            """),
    ];

    public async Task RecordAsync(string tenant, string cluster, IReadOnlyList<VerdictChange> changes, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("""
            INSERT INTO health_verdicts (tenant, cluster, backend, verdict, failing, passing, reporting, revision, changed_at)
            SELECT $1, $2, x.b, x.v, x.f, x.p, x.r, x.rev, x.at
            FROM unnest($3::text[], $4::text[], $5::int[], $6::int[], $7::int[], $8::bigint[], $9::timestamptz[]) AS x(b, v, f, p, r, rev, at)
            """);
        command.Parameters.AddWithValue(tenant);
        command.Parameters.AddWithValue(cluster);
        command.Parameters.AddWithValue(changes.Select(c => c.Backend).ToArray());
        command.Parameters.AddWithValue(changes.Select(c => c.Verdict).ToArray());
        command.Parameters.AddWithValue(changes.Select(c => c.Failing).ToArray());
        command.Parameters.AddWithValue(changes.Select(c => c.Passing).ToArray());
        command.Parameters.AddWithValue(changes.Select(c => c.Reporting).ToArray());
        command.Parameters.AddWithValue(changes.Select(c => c.Revision).ToArray());
        command.Parameters.AddWithValue(changes.Select(c => c.At.UtcDateTime).ToArray());
        await command.ExecuteNonQueryAsync(ct);

        // A flapping backend must not grow its history without bound: only the newest MaxHistory rows can be read.
        await using var trim = db.CreateCommand($"""
            DELETE FROM health_verdicts h
            USING unnest($3::text[]) AS x(b)
            WHERE h.tenant = $1 AND h.cluster = $2 AND h.backend = x.b
              AND h.id < (SELECT id FROM health_verdicts WHERE tenant = $1 AND cluster = $2 AND backend = x.b
                          ORDER BY id DESC OFFSET {MaxHistory - 1} LIMIT 1)
            """);
        trim.Parameters.AddWithValue(tenant);
        trim.Parameters.AddWithValue(cluster);
        trim.Parameters.AddWithValue(changes.Select(c => c.Backend).Distinct().ToArray());
        await trim.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Up to <paramref name="limit"/> of a backend's verdict changes, newest first, each with its position in
    /// the log; only those older than position <paramref name="before"/> when it is given (the keyset of a page).
    /// </summary>
    public async Task<List<(long Id, VerdictChange Change)>> HistoryPageAsync(string tenant, string cluster, string backend, long? before, int limit, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("""
            SELECT backend, verdict, failing, passing, reporting, revision, changed_at, id
            FROM health_verdicts WHERE tenant = $1 AND cluster = $2 AND backend = $3 AND id < $4 ORDER BY id DESC LIMIT $5
            """);
        command.Parameters.AddWithValue(tenant);
        command.Parameters.AddWithValue(cluster);
        command.Parameters.AddWithValue(backend);
        command.Parameters.AddWithValue(before ?? long.MaxValue);
        command.Parameters.AddWithValue(limit);
        var changes = new List<(long, VerdictChange)>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            changes.Add((reader.GetInt64(7), Read(reader)));
        return changes;
    }

    /// <summary>Forgets the history of backends that left their cluster.</summary>
    public async Task ForgetBackendsAsync(string tenant, string cluster, IReadOnlyList<string> backends, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("DELETE FROM health_verdicts WHERE tenant = $1 AND cluster = $2 AND backend = ANY($3)");
        command.Parameters.AddWithValue(tenant);
        command.Parameters.AddWithValue(cluster);
        command.Parameters.AddWithValue(backends.ToArray());
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Forgets a deleted cluster's verdicts and their history.</summary>
    public async Task ForgetAsync(string tenant, string cluster, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("DELETE FROM health_verdicts WHERE tenant = $1 AND cluster = $2");
        command.Parameters.AddWithValue(tenant);
        command.Parameters.AddWithValue(cluster);
        await command.ExecuteNonQueryAsync(ct);
    }

    private static VerdictChange Read(NpgsqlDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4),
            reader.GetInt64(5), new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(6), DateTimeKind.Utc)));
}
