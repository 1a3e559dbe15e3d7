using Npgsql;
using NpgsqlTypes;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Access;

/// <summary>
/// API keys and pool tokens in PostgreSQL: one row per credential with the SHA-256 of its secret,
/// never the secret. Revoking keeps the row (so lists can show it) and stamps it; deleting a tenant
/// deletes its keys.
/// </summary>
public sealed class CredentialStore(NpgsqlDataSource db)
{
    public static readonly IReadOnlyList<SchemaMigration> Migrations =
    [
        new("access", 1, "API keys and pool tokens, stored as hashes", """
            CREATE TABLE IF NOT EXISTS credentials (
                id           text        PRIMARY KEY,
                kind         smallint    NOT NULL,
                name         text        NOT NULL,
                role         text        NOT NULL,
                tenant       text,
                pool         text,
                secret_hash  bytea       NOT NULL,
                created_at   timestamptz NOT NULL DEFAULT now(),
                created_by   text        NOT NULL,
                expires_at   timestamptz,
                revoked_at   timestamptz,
                last_used_at timestamptz
            );
            CREATE INDEX IF NOT EXISTS credentials_by_tenant ON credentials (tenant, id) WHERE tenant IS NOT NULL;
            CREATE INDEX IF NOT EXISTS credentials_by_pool ON credentials (pool, id) WHERE pool IS NOT NULL;
            """),
    ];

    private const string Columns = "id, kind, name, role, tenant, pool, created_at, created_by, expires_at, revoked_at, last_used_at";

    /// <summary>Creates the credential and, in the same statement, its audit record (when given).</summary>
    public async Task<Credential> CreateAsync(Credential credential, byte[] secretHash, CancellationToken ct = default, AuditRow? audit = null)
    {
        await using var command = db.CreateCommand(audit is null
            ? $"""
              INSERT INTO credentials (id, kind, name, role, tenant, pool, secret_hash, created_by, expires_at)
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
              RETURNING {Columns}
              """
            : $"""
              WITH created AS (
                  INSERT INTO credentials (id, kind, name, role, tenant, pool, secret_hash, created_by, expires_at)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                  RETURNING {Columns}
              ), audited AS ({AuditStore.InsertRowSql(10, "$17::jsonb", "FROM created")})
              SELECT {Columns} FROM created
              """);
        command.Parameters.AddWithValue(credential.Id);
        command.Parameters.AddWithValue((short)credential.Kind);
        command.Parameters.AddWithValue(credential.Name);
        command.Parameters.AddWithValue(credential.Role);
        command.Parameters.Add(Text(credential.Tenant));
        command.Parameters.Add(Text(credential.Pool));
        command.Parameters.AddWithValue(secretHash);
        command.Parameters.AddWithValue(credential.CreatedBy);
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)credential.ExpiresAt?.UtcDateTime ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        if (audit is not null)
            AuditStore.AddRowParameters(command, audit);
        return (await ReadAsync(command, ct)).Single();
    }

    /// <summary>The credential and the hash of its secret, or null when there is no such credential.</summary>
    public async Task<(Credential Credential, byte[] SecretHash)?> FindAsync(string id, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand($"SELECT {Columns}, secret_hash FROM credentials WHERE id = $1");
        command.Parameters.AddWithValue(id);
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (Read(reader), (byte[])reader[11]) : null;
    }

    /// <summary>The credentials of the given IDs that exist, with their hashes: one query for a node's whole cache.</summary>
    public async Task<Dictionary<string, (Credential Credential, byte[] SecretHash)>> FindAllAsync(IReadOnlyCollection<string> ids, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand($"SELECT {Columns}, secret_hash FROM credentials WHERE id = ANY($1)");
        command.Parameters.AddWithValue(ids.ToArray());
        var found = new Dictionary<string, (Credential, byte[])>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var credential = Read(reader);
            found[credential.Id] = (credential, (byte[])reader[11]);
        }
        return found;
    }

    /// <summary>
    /// Credentials of a kind, optionally of one tenant or pool, ordered by ID, at most
    /// <paramref name="limit"/> after the ID <paramref name="after"/>.
    /// </summary>
    public async Task<List<Credential>> ListAsync(CredentialKind kind, string? tenant, string? pool, int limit, string? after, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand($"""
            SELECT {Columns} FROM credentials
            WHERE kind = $1 AND ($2::text IS NULL OR tenant = $2) AND ($3::text IS NULL OR pool = $3) AND id > $4
            ORDER BY id LIMIT $5
            """);
        command.Parameters.AddWithValue((short)kind);
        command.Parameters.Add(Text(tenant));
        command.Parameters.Add(Text(pool));
        command.Parameters.AddWithValue(after ?? "");
        command.Parameters.AddWithValue(limit);
        return await ReadAsync(command, ct);
    }

    /// <summary>Stamps the credential revoked (if it is not already); returns it as it now is, or null when there is none.</summary>
    /// <remarks>The audit record (when given) is written in the same statement, only if this call revoked it; its after gains <c>revokedAt</c>.</remarks>
    public async Task<Credential?> RevokeAsync(string id, CancellationToken ct = default, AuditRow? audit = null)
    {
        await using var command = db.CreateCommand(audit is null
            ? $"""
              UPDATE credentials SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
              RETURNING {Columns}
              """
            : $"""
              WITH revoked AS (
                  UPDATE credentials SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
                  RETURNING {Columns}
              ), audited AS ({AuditStore.InsertRowSql(2, "$9::jsonb || jsonb_build_object('revokedAt', revoked.revoked_at)", "FROM revoked WHERE revoked.revoked_at = now()")})
              SELECT {Columns} FROM revoked
              """);
        command.Parameters.AddWithValue(id);
        if (audit is not null)
            AuditStore.AddRowParameters(command, audit);
        return (await ReadAsync(command, ct)).SingleOrDefault();
    }

    /// <summary>Deletes a tenant's keys (the tenant itself was deleted).</summary>
    public async Task<IReadOnlyList<string>> DeleteTenantAsync(string tenant, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("DELETE FROM credentials WHERE tenant = $1 RETURNING id");
        command.Parameters.AddWithValue(tenant);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            ids.Add(reader.GetString(0));
        return ids;
    }

    public async Task TouchAsync(string id, DateTimeOffset at, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand("UPDATE credentials SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)");
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(at.UtcDateTime);
        await command.ExecuteNonQueryAsync(ct);
    }

    private static NpgsqlParameter Text(string? value) => new() { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text };

    private static async Task<List<Credential>> ReadAsync(NpgsqlCommand command, CancellationToken ct)
    {
        var credentials = new List<Credential>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            credentials.Add(Read(reader));
        return credentials;
    }

    private static Credential Read(NpgsqlDataReader reader) => new(
        reader.GetString(0),
        (CredentialKind)reader.GetInt16(1),
        reader.GetString(2),
        reader.GetString(3),
        reader.IsDBNull(4) ? null : reader.GetString(4),
        reader.IsDBNull(5) ? null : reader.GetString(5),
        Utc(reader, 6)!.Value,
        reader.GetString(7),
        Utc(reader, 8),
        Utc(reader, 9),
        Utc(reader, 10));

    private static DateTimeOffset? Utc(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(ordinal), DateTimeKind.Utc));
}
