using System.Text.Json.Nodes;
using Npgsql;
using NpgsqlTypes;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>
/// One audit record about to be written with the change it records: <see cref="Change"/> is the
/// 1-based number of its change within a commit (the commit stamps it with that change's revision).
/// <see cref="Before"/> and <see cref="After"/> are JSON with every secret already stripped.
/// </summary>
public sealed record AuditRow(
    int Change, string ActorId, string ActorName, string? RequestId, string Action, string? Tenant, string Resource, string? Before, string? After);

/// <summary>One audit record as read back.</summary>
public sealed record AuditRecord(
    long Id, DateTimeOffset Time, string ActorId, string ActorName, string Action, string? Tenant, string Resource,
    long? Revision, string? RequestId, string? Before, string? After)
{
    public JsonObject ToJson() => new()
    {
        ["id"] = Id,
        ["time"] = Time.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        ["actor"] = new JsonObject { ["id"] = ActorId, ["name"] = ActorName },
        ["action"] = Action,
        ["tenant"] = Tenant,
        ["resource"] = Resource,
        ["revision"] = Revision,
        ["requestId"] = RequestId,
        ["before"] = Before is null ? null : JsonNode.Parse(Before),
        ["after"] = After is null ? null : JsonNode.Parse(After),
    };
}

/// <summary>What <c>GET /v1/audit</c> filters on; all optional.</summary>
public sealed record AuditQuery(string? Tenant, string? Actor, string? ResourcePrefix, DateTimeOffset? Since, long? After, int Limit);

/// <summary>
/// The audit trail in PostgreSQL (<c>audit_log</c>): written only inside the transaction of the change
/// it records (the configuration commit's <c>audited</c> CTE, a credential's own statement), read
/// newest first, and trimmed to <c>Audit:RetentionDays</c>.
/// </summary>
public sealed class AuditStore(NpgsqlDataSource db)
{
    /// <summary>The advisory lock one node at a time holds while it trims the trail ("ppaudit" in ASCII).</summary>
    public const long RetentionLockKey = 0x0070_7061_7564_6974;

    public static readonly IReadOnlyList<SchemaMigration> Migrations =
    [
        new("audit", 1, "the audit trail: who changed what, when, before and after", """
            CREATE TABLE IF NOT EXISTS audit_log (
                id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                at         timestamptz NOT NULL DEFAULT now(),
                actor_id   text        NOT NULL,
                actor_name text        NOT NULL,
                action     text        NOT NULL,
                tenant     text,
                resource   text        NOT NULL,
                revision   bigint,
                request_id text,
                before     jsonb,
                after      jsonb
            );
            CREATE INDEX IF NOT EXISTS audit_log_by_tenant ON audit_log (tenant, id);
            CREATE INDEX IF NOT EXISTS audit_log_by_time ON audit_log (at);
            """),
    ];

    /// <summary>
    /// The <c>audited</c> CTE of a configuration commit: its rows come in parameters $11 to $19
    /// (<see cref="AddCommitParameters"/>) and take the revision of their change from <c>numbered</c>.
    /// </summary>
    public const string CommitCte = """
        , audited AS (
            INSERT INTO audit_log (actor_id, actor_name, request_id, action, tenant, resource, revision, before, after)
            SELECT x.ai, x.an, x.rq, x.ac, x.t, x.r, n.revision, x.b::jsonb, x.a::jsonb
            FROM unnest($11::int[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[])
                AS x(c, ai, an, rq, ac, t, r, b, a)
            JOIN numbered n ON n.change = x.c
        )
        """;

    /// <summary>Adds $11 to $19 of <see cref="CommitCte"/> (empty arrays: nothing is audited).</summary>
    public static void AddCommitParameters(NpgsqlBatchCommand command, IReadOnlyList<AuditRow> rows)
    {
        command.Parameters.AddWithValue(rows.Select(r => r.Change).ToArray());
        foreach (var column in new Func<AuditRow, string?>[] { r => r.ActorId, r => r.ActorName, r => r.RequestId, r => r.Action, r => r.Tenant, r => r.Resource, r => r.Before, r => r.After })
            command.Parameters.Add(new NpgsqlParameter { Value = rows.Select(column).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
    }

    /// <summary>
    /// An INSERT of one audit row from the eight parameters starting at <paramref name="first"/> (<see cref="AddRowParameters"/>),
    /// for a statement's own CTE: <paramref name="after"/> is the SQL of the after column, <paramref name="from"/> what it selects from.
    /// </summary>
    public static string InsertRowSql(int first, string after, string from) => $"""
        INSERT INTO audit_log (actor_id, actor_name, request_id, action, tenant, resource, before, after)
        SELECT ${first}, ${first + 1}, ${first + 2}, ${first + 3}, ${first + 4}, ${first + 5}, ${first + 6}::jsonb, {after} {from}
        """;

    public static void AddRowParameters(NpgsqlCommand command, AuditRow row)
    {
        foreach (var value in new[] { row.ActorId, row.ActorName, row.RequestId, row.Action, row.Tenant, row.Resource, row.Before, row.After })
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
    }

    /// <summary>The records that match, newest first, at most <see cref="AuditQuery.Limit"/>.</summary>
    public async Task<List<AuditRecord>> ListAsync(AuditQuery query, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("""
            SELECT id, at, actor_id, actor_name, action, tenant, resource, revision, request_id, before::text, after::text
            FROM audit_log
            WHERE ($1::text IS NULL OR tenant = $1)
              AND ($2::text IS NULL OR actor_id = $2 OR actor_name = $2)
              AND ($3::text IS NULL OR starts_with(resource, $3))
              AND ($4::timestamptz IS NULL OR at >= $4)
              AND ($5::bigint IS NULL OR id < $5)
            ORDER BY id DESC LIMIT $6
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)query.Tenant ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)query.Actor ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)query.ResourcePrefix ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)query.Since?.UtcDateTime ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)query.After ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
        command.Parameters.AddWithValue(query.Limit);
        var records = new List<AuditRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            records.Add(new AuditRecord(
                reader.GetInt64(0),
                new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(1), DateTimeKind.Utc)),
                reader.GetString(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetString(6),
                reader.IsDBNull(7) ? null : reader.GetInt64(7),
                reader.IsDBNull(8) ? null : reader.GetString(8),
                reader.IsDBNull(9) ? null : reader.GetString(9),
                reader.IsDBNull(10) ? null : reader.GetString(10)));
        }
        return records;
    }

    /// <summary>
    /// Deletes the records older than <paramref name="before"/>, unless another node is doing so (then
    /// null). One node at a time: a transaction-level advisory lock taken without waiting.
    /// </summary>
    public async Task<int?> DeleteOlderThanAsync(DateTimeOffset before, CancellationToken ct = default)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var locking = new NpgsqlCommand("SELECT pg_try_advisory_xact_lock($1)", connection, transaction))
        {
            locking.Parameters.AddWithValue(RetentionLockKey);
            if (await locking.ExecuteScalarAsync(ct) is not true)
                return null;
        }
        await using var delete = new NpgsqlCommand("DELETE FROM audit_log WHERE at < $1", connection, transaction);
        delete.Parameters.AddWithValue(before.UtcDateTime);
        var deleted = await delete.ExecuteNonQueryAsync(ct);
        await transaction.CommitAsync(ct);
        return deleted;
    }
}
