using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;
using Orleans;
using Orleans.Runtime;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>
/// Orleans cluster membership on PostgreSQL, so that every silo of a cluster pointed at the same
/// database finds the others there. Per cluster (<c>ClusterOptions.ClusterId</c>) one row in
/// <c>membership_version</c> holds the table version and its ETag; one row per silo incarnation
/// (address, port, generation) in <c>membership_silo</c> holds its entry and its own ETag. ETags
/// are <c>bigint</c>s drawn from one sequence, so they change on every write and are never reused.
/// </summary>
/// <remarks>
/// <para>
/// The semantics are those of <see cref="IMembershipTable"/>: <see cref="InsertRowAsync"/> and
/// <see cref="UpdateRowAsync"/> change the silo row and the version row together in one transaction,
/// and only when the ETags the caller read are still current; a caller that lost a race gets
/// <see langword="false"/>, never an exception. The version row is updated first, conditioned on
/// its ETag: that takes its row lock, so concurrent writers of one cluster queue on it and, under
/// READ COMMITTED, every writer after the winner finds the ETag changed and updates nothing.
/// </para>
/// <para>
/// Reads are single statements (one snapshot), so the entries and the version they return belong
/// together. <see cref="UpdateIAmAliveAsync"/> is a dirty write of the heartbeat column only: it keeps
/// the row's ETag, so it never makes a concurrent <see cref="UpdateRowAsync"/> fail.
/// The schema is created on first use if the host has not migrated it already.
/// </para>
/// </remarks>
public sealed partial class NpgsqlMembershipTable : IMembershipTable
{
    /// <summary>The schema this provider needs; run them with <see cref="PostgresSchema.MigrateAsync"/>.</summary>
    public static readonly IReadOnlyList<SchemaMigration> Migrations =
    [
        new("membership", 1, "Orleans cluster membership: a version row per cluster and a row per silo", """
            CREATE SEQUENCE IF NOT EXISTS membership_etag AS bigint;
            CREATE TABLE IF NOT EXISTS membership_version (
                cluster_id text        NOT NULL PRIMARY KEY,
                version    integer     NOT NULL,
                etag       bigint      NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE IF NOT EXISTS membership_silo (
                cluster_id      text        NOT NULL REFERENCES membership_version (cluster_id) ON DELETE CASCADE,
                address         text        NOT NULL,
                port            integer     NOT NULL,
                generation      integer     NOT NULL,
                silo_name       text        NOT NULL,
                host_name       text        NOT NULL,
                status          integer     NOT NULL,
                proxy_port      integer     NOT NULL,
                role_name       text,
                update_zone     integer     NOT NULL,
                fault_zone      integer     NOT NULL,
                suspect_times   jsonb,
                start_time      timestamptz NOT NULL,
                i_am_alive_time timestamptz NOT NULL,
                etag            bigint      NOT NULL,
                PRIMARY KEY (cluster_id, address, port, generation)
            );
            """),
    ];

    /// <summary>The ETag reported for a cluster without a version row; the sequence starts at 1, so it never matches.</summary>
    private const string MissingVersionEtag = "0";

    private const string SiloKey = "cluster_id = $1 AND address = $2 AND port = $3 AND generation = $4";
    private const string SiloColumns = """
        s.address, s.port, s.generation, s.silo_name, s.host_name, s.status, s.proxy_port, s.role_name,
        s.update_zone, s.fault_zone, s.suspect_times::text, s.start_time, s.i_am_alive_time, s.etag
        """;

    private const string InitVersionSql = """
        INSERT INTO membership_version (cluster_id, version, etag) VALUES ($1, 0, nextval('membership_etag'))
        ON CONFLICT (cluster_id) DO NOTHING
        """;
    private const string ReadAllSql = $"""
        SELECT v.version, v.etag, {SiloColumns}
        FROM membership_version v LEFT JOIN membership_silo s ON s.cluster_id = v.cluster_id
        WHERE v.cluster_id = $1
        """;
    private const string ReadRowSql = $"""
        SELECT v.version, v.etag, {SiloColumns}
        FROM membership_version v LEFT JOIN membership_silo s
            ON s.cluster_id = v.cluster_id AND s.address = $2 AND s.port = $3 AND s.generation = $4
        WHERE v.cluster_id = $1
        """;
    private const string BumpVersionSql = """
        UPDATE membership_version SET version = $2, etag = nextval('membership_etag'), updated_at = now()
        WHERE cluster_id = $1 AND etag = $3
        """;
    private const string InsertSiloSql = """
        INSERT INTO membership_silo (cluster_id, address, port, generation, silo_name, host_name, status, proxy_port,
                                     role_name, update_zone, fault_zone, suspect_times, start_time, i_am_alive_time, etag)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, nextval('membership_etag'))
        ON CONFLICT (cluster_id, address, port, generation) DO NOTHING
        """;
    private const string UpdateSiloSql = $"""
        UPDATE membership_silo SET silo_name = $5, host_name = $6, status = $7, proxy_port = $8, role_name = $9,
            update_zone = $10, fault_zone = $11, suspect_times = $12, start_time = $13, i_am_alive_time = $14,
            etag = nextval('membership_etag')
        WHERE {SiloKey} AND etag = $15
        """;
    private const string IAmAliveSql = $"UPDATE membership_silo SET i_am_alive_time = $5 WHERE {SiloKey}";
    private const string DeleteClusterSql = "DELETE FROM membership_version WHERE cluster_id = $1";

    // A silo entry is defunct once the silo is Dead and nothing about it changed since the cut-off:
    // not its start, not its heartbeat, not a suspicion vote (declaring a silo dead records a vote).
    // That is the entry's "effective update time" by which Orleans 10's cleanup agent picks the
    // cut-off, and the predicate of Orleans' in-memory reference table.
    private const string CleanupSql = """
        DELETE FROM membership_silo s
        WHERE s.cluster_id = $1 AND s.status = $2
          AND GREATEST(s.start_time, s.i_am_alive_time,
                       (SELECT max((vote->>'at')::timestamptz) FROM jsonb_array_elements(COALESCE(s.suspect_times, '[]')) vote)) < $3
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly SchemaOnce _schema;
    private readonly ILogger _logger;

    /// <summary>Creates the table for one cluster over <paramref name="dataSource"/>, which the caller owns.</summary>
    /// <param name="dataSource">The database.</param>
    /// <param name="clusterId">The cluster whose membership this instance reads and writes (<c>ClusterOptions.ClusterId</c>).</param>
    /// <param name="logger">Where lost races are logged at debug level; nowhere when null.</param>
    public NpgsqlMembershipTable(NpgsqlDataSource dataSource, string clusterId, ILogger<NpgsqlMembershipTable>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentException.ThrowIfNullOrEmpty(clusterId);
        _dataSource = dataSource;
        _schema = new SchemaOnce(dataSource, Migrations);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        ClusterId = clusterId;
    }

    /// <summary>The cluster this instance serves.</summary>
    public string ClusterId { get; }

    /// <summary>Applies the schema if missing and, when asked, creates the cluster's version row (at version 0) if missing.</summary>
    public async Task InitializeMembershipTableAsync(bool tryInitTableVersion, CancellationToken cancellationToken = default)
    {
        await _schema.EnsureAsync(cancellationToken);
        if (!tryInitTableVersion)
            return;
        await using var command = _dataSource.CreateCommand(InitVersionSql);
        command.Parameters.AddWithValue(ClusterId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Removes the version row and every silo row of <paramref name="clusterId"/> (not necessarily this instance's cluster).</summary>
    public async Task DeleteMembershipTableEntriesAsync(string clusterId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(clusterId);
        await _schema.EnsureAsync(cancellationToken);
        // The silo rows go with the version row (ON DELETE CASCADE), locked after it as writers
        // lock them, so this cannot deadlock with a concurrent InsertRow or UpdateRow.
        await using var command = _dataSource.CreateCommand(DeleteClusterSql);
        command.Parameters.AddWithValue(clusterId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Removes this cluster's entries of Dead silos whose latest sign of life (start, heartbeat, or
    /// a suspicion vote against them) is older than <paramref name="beforeDate"/>. The table version
    /// does not change.
    /// </summary>
    public async Task CleanupDefunctSiloEntriesAsync(DateTimeOffset beforeDate, CancellationToken cancellationToken = default)
    {
        await _schema.EnsureAsync(cancellationToken);
        await using var command = _dataSource.CreateCommand(CleanupSql);
        command.Parameters.AddWithValue(ClusterId);
        command.Parameters.AddWithValue((int)SiloStatus.Dead);
        command.Parameters.AddWithValue(beforeDate.UtcDateTime);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The entry of one silo (none when it has no row) and the table version, read in one snapshot.</summary>
    public async Task<MembershipTableData> ReadRowAsync(SiloAddress key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        await _schema.EnsureAsync(cancellationToken);
        await using var command = _dataSource.CreateCommand(ReadRowSql);
        AddKey(command, key);
        return await ReadAsync(command, cancellationToken);
    }

    /// <summary>Every entry of the cluster and the table version, read in one snapshot.</summary>
    public async Task<MembershipTableData> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        await _schema.EnsureAsync(cancellationToken);
        await using var command = _dataSource.CreateCommand(ReadAllSql);
        command.Parameters.AddWithValue(ClusterId);
        return await ReadAsync(command, cancellationToken);
    }

    /// <summary>
    /// Adds the entry and moves the table version to <paramref name="tableVersion"/>, both or neither:
    /// only when the silo has no row yet and the version's ETag is still <c>tableVersion.VersionEtag</c>.
    /// </summary>
    /// <returns><see langword="false"/> when either condition does not hold.</returns>
    public async Task<bool> InsertRowAsync(MembershipEntry entry, TableVersion tableVersion, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(tableVersion);
        if (!TryParseEtag(tableVersion.VersionEtag, out var versionEtag))
            return false;
        await _schema.EnsureAsync(cancellationToken);

        // Disposing the transaction uncommitted rolls it back.
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (!await BumpVersionAsync(transaction, tableVersion.Version, versionEtag, cancellationToken))
        {
            LogInsertLost(_logger, ClusterId, entry.SiloAddress, "the table version ETag is not current", tableVersion);
            return false;
        }
        await using (var insert = new NpgsqlCommand(InsertSiloSql, connection, transaction))
        {
            AddKey(insert, entry.SiloAddress);
            AddFields(insert, entry);
            if (await insert.ExecuteNonQueryAsync(cancellationToken) != 1)
            {
                LogInsertLost(_logger, ClusterId, entry.SiloAddress, "the silo already has a row", tableVersion);
                return false;
            }
        }
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// Replaces the entry and moves the table version to <paramref name="tableVersion"/>, both or
    /// neither: only when the row's ETag is still <paramref name="etag"/> and the version's ETag is
    /// still <c>tableVersion.VersionEtag</c>.
    /// </summary>
    /// <returns><see langword="false"/> when the row is missing or either ETag is not current.</returns>
    public async Task<bool> UpdateRowAsync(MembershipEntry entry, string etag, TableVersion tableVersion, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(tableVersion);
        if (!TryParseEtag(etag, out var rowEtag) || !TryParseEtag(tableVersion.VersionEtag, out var versionEtag))
            return false;
        await _schema.EnsureAsync(cancellationToken);

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (!await BumpVersionAsync(transaction, tableVersion.Version, versionEtag, cancellationToken))
        {
            LogUpdateLost(_logger, ClusterId, entry.SiloAddress, "the table version ETag is not current", tableVersion);
            return false;
        }
        await using (var update = new NpgsqlCommand(UpdateSiloSql, connection, transaction))
        {
            AddKey(update, entry.SiloAddress);
            AddFields(update, entry);
            update.Parameters.AddWithValue(rowEtag);
            if (await update.ExecuteNonQueryAsync(cancellationToken) != 1)
            {
                LogUpdateLost(_logger, ClusterId, entry.SiloAddress, "the row is missing or its ETag is not current", tableVersion);
                return false;
            }
        }
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// Sets the silo's I-am-alive time and nothing else: no ETag check, and neither the row's ETag
    /// nor the table version changes. A silo without a row is not an error.
    /// </summary>
    public async Task UpdateIAmAliveAsync(MembershipEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        await _schema.EnsureAsync(cancellationToken);
        await using var command = _dataSource.CreateCommand(IAmAliveSql);
        AddKey(command, entry.SiloAddress);
        command.Parameters.AddWithValue(Utc(entry.IAmAliveTime));
        if (await command.ExecuteNonQueryAsync(cancellationToken) == 0)
            LogIAmAliveWithoutRow(_logger, ClusterId, entry.SiloAddress);
    }

    // Orleans 10 marks the members without a cancellation token obsolete and calls the ones above.

    /// <inheritdoc />
    [Obsolete("Use InitializeMembershipTableAsync instead.")]
    public Task InitializeMembershipTable(bool tryInitTableVersion) => InitializeMembershipTableAsync(tryInitTableVersion, CancellationToken.None);

    /// <inheritdoc />
    [Obsolete("Use DeleteMembershipTableEntriesAsync instead.")]
    public Task DeleteMembershipTableEntries(string clusterId) => DeleteMembershipTableEntriesAsync(clusterId, CancellationToken.None);

    /// <inheritdoc />
    [Obsolete("Use CleanupDefunctSiloEntriesAsync instead.")]
    public Task CleanupDefunctSiloEntries(DateTimeOffset beforeDate) => CleanupDefunctSiloEntriesAsync(beforeDate, CancellationToken.None);

    /// <inheritdoc />
    [Obsolete("Use ReadRowAsync instead.")]
    public Task<MembershipTableData> ReadRow(SiloAddress key) => ReadRowAsync(key, CancellationToken.None);

    /// <inheritdoc />
    [Obsolete("Use ReadAllAsync instead.")]
    public Task<MembershipTableData> ReadAll() => ReadAllAsync(CancellationToken.None);

    /// <inheritdoc />
    [Obsolete("Use InsertRowAsync instead.")]
    public Task<bool> InsertRow(MembershipEntry entry, TableVersion tableVersion) => InsertRowAsync(entry, tableVersion, CancellationToken.None);

    /// <inheritdoc />
    [Obsolete("Use UpdateRowAsync instead.")]
    public Task<bool> UpdateRow(MembershipEntry entry, string etag, TableVersion tableVersion) =>
        UpdateRowAsync(entry, etag, tableVersion, CancellationToken.None);

    /// <inheritdoc />
    [Obsolete("Use UpdateIAmAliveAsync instead.")]
    public Task UpdateIAmAlive(MembershipEntry entry) => UpdateIAmAliveAsync(entry, CancellationToken.None);

    private async Task<bool> BumpVersionAsync(NpgsqlTransaction transaction, int version, long expectedEtag, CancellationToken cancellationToken)
    {
        await using var bump = new NpgsqlCommand(BumpVersionSql, transaction.Connection, transaction);
        bump.Parameters.AddWithValue(ClusterId);
        bump.Parameters.AddWithValue(version);
        bump.Parameters.AddWithValue(expectedEtag);
        return await bump.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    private static async Task<MembershipTableData> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        TableVersion? version = null;
        var members = new List<Tuple<MembershipEntry, string>>();
        while (await reader.ReadAsync(cancellationToken))
        {
            version ??= new TableVersion(reader.GetInt32(0), FormatEtag(reader.GetInt64(1)));
            if (!reader.IsDBNull(2))
                members.Add(ReadEntry(reader));
        }
        return new MembershipTableData(members, version ?? new TableVersion(0, MissingVersionEtag));
    }

    // Columns from 2 on, in the order of SiloColumns.
    private static Tuple<MembershipEntry, string> ReadEntry(NpgsqlDataReader reader)
    {
        var entry = new MembershipEntry
        {
            SiloAddress = SiloAddress.New(IPAddress.Parse(reader.GetString(2)), reader.GetInt32(3), reader.GetInt32(4)),
            SiloName = reader.GetString(5),
            HostName = reader.GetString(6),
            Status = (SiloStatus)reader.GetInt32(7),
            ProxyPort = reader.GetInt32(8),
            RoleName = reader.IsDBNull(9) ? null : reader.GetString(9),
            UpdateZone = reader.GetInt32(10),
            FaultZone = reader.GetInt32(11),
            SuspectTimes = reader.IsDBNull(12) ? null : SuspectVotes.Parse(reader.GetString(12)),
            StartTime = reader.GetDateTime(13),
            IAmAliveTime = reader.GetDateTime(14),
        };
        return Tuple.Create(entry, FormatEtag(reader.GetInt64(15)));
    }

    private void AddKey(NpgsqlCommand command, SiloAddress silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        command.Parameters.AddWithValue(ClusterId);
        command.Parameters.AddWithValue(silo.Endpoint.Address.ToString());
        command.Parameters.AddWithValue(silo.Endpoint.Port);
        command.Parameters.AddWithValue(silo.Generation);
    }

    // Parameters $5 to $14.
    private static void AddFields(NpgsqlCommand command, MembershipEntry entry)
    {
        command.Parameters.AddWithValue(entry.SiloName ?? "");
        command.Parameters.AddWithValue(entry.HostName ?? "");
        command.Parameters.AddWithValue((int)entry.Status);
        command.Parameters.AddWithValue(entry.ProxyPort);
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = (object?)entry.RoleName ?? DBNull.Value });
        command.Parameters.AddWithValue(entry.UpdateZone);
        command.Parameters.AddWithValue(entry.FaultZone);
        command.Parameters.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Jsonb,
            Value = entry.SuspectTimes is { } votes ? SuspectVotes.Format(votes) : DBNull.Value,
        });
        command.Parameters.AddWithValue(Utc(entry.StartTime));
        command.Parameters.AddWithValue(Utc(entry.IAmAliveTime));
    }

    /// <summary>Orleans' times are UTC; one without a kind (e.g. a default) is taken as UTC, as Orleans itself does.</summary>
    internal static DateTime Utc(DateTime time) => time.Kind switch
    {
        DateTimeKind.Utc => time,
        DateTimeKind.Local => time.ToUniversalTime(),
        _ => DateTime.SpecifyKind(time, DateTimeKind.Utc),
    };

    private static string FormatEtag(long etag) => etag.ToString(CultureInfo.InvariantCulture);

    private static bool TryParseEtag(string? etag, out long value) =>
        long.TryParse(etag, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Membership of {ClusterId}: insert of {Silo} at version {TableVersion} lost: {Reason}.")]
    private static partial void LogInsertLost(ILogger logger, string clusterId, SiloAddress silo, string reason, TableVersion tableVersion);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Membership of {ClusterId}: update of {Silo} at version {TableVersion} lost: {Reason}.")]
    private static partial void LogUpdateLost(ILogger logger, string clusterId, SiloAddress silo, string reason, TableVersion tableVersion);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Membership of {ClusterId}: I-am-alive of {Silo}, which has no row; nothing updated.")]
    private static partial void LogIAmAliveWithoutRow(ILogger logger, string clusterId, SiloAddress silo);

    /// <summary>
    /// Suspicion votes as a <c>jsonb</c> array an operator can read:
    /// <c>[{"silo": "S10.0.0.5:11111:123456789", "at": "2026-01-01T12:00:00.0000000Z"}]</c>.
    /// </summary>
    private static class SuspectVotes
    {
        public static string Format(List<Tuple<SiloAddress, DateTime>> votes)
        {
            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartArray();
                foreach (var (silo, at) in votes)
                {
                    json.WriteStartObject();
                    json.WriteString("silo", silo.ToParsableString());
                    json.WriteString("at", Utc(at).ToString("O", CultureInfo.InvariantCulture));
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }
            return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }

        public static List<Tuple<SiloAddress, DateTime>> Parse(string text)
        {
            using var document = JsonDocument.Parse(text);
            var votes = new List<Tuple<SiloAddress, DateTime>>();
            foreach (var vote in document.RootElement.EnumerateArray())
            {
                var silo = SiloAddress.FromParsableString(vote.GetProperty("silo").GetString()!);
                var at = DateTime.ParseExact(vote.GetProperty("at").GetString()!, "O", CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
                votes.Add(Tuple.Create(silo, at));
            }
            return votes;
        }
    }
}
