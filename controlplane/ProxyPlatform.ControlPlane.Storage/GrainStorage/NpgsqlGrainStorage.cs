using System.Globalization;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Orleans;
using Orleans.Runtime;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>
/// Orleans grain storage on PostgreSQL: one row per (grain type, grain key, state name) in
/// <c>grain_state</c>, the state as readable <c>jsonb</c>, and optimistic concurrency through an
/// ETag. The ETag is a <c>bigint</c> drawn from a sequence on every write, so it changes on every
/// write and is never reused, even after a clear and re-create of the same row.
/// </summary>
/// <remarks>
/// Semantics (those of Orleans' <see cref="IGrainStorage"/>): a write with a null ETag inserts and
/// fails if the row exists; a write with an ETag updates only the row carrying that ETag; a clear
/// deletes the row only if it carries the given ETag (a null ETag is fine when there is no row).
/// A failed check throws <see cref="InconsistentStateException"/> and changes nothing. Clear
/// deletes the row: a cleared grain reads back as never written (null ETag, no record, new state).
/// The schema is created on first use if the host has not migrated it already.
/// </remarks>
public sealed class NpgsqlGrainStorage : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>The schema this provider needs; run them with <see cref="PostgresSchema.MigrateAsync"/>.</summary>
    public static readonly IReadOnlyList<SchemaMigration> Migrations =
    [
        new("grain-storage", 1, "grain state as jsonb with a sequence-drawn etag", """
            CREATE SEQUENCE IF NOT EXISTS grain_state_etag AS bigint;
            CREATE TABLE IF NOT EXISTS grain_state (
                grain_type text        NOT NULL,
                grain_key  text        NOT NULL,
                state_name text        NOT NULL,
                etag       bigint      NOT NULL,
                state      jsonb       NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (grain_type, grain_key, state_name)
            );
            """),
    ];

    private const string Key = "grain_type = $1 AND grain_key = $2 AND state_name = $3";
    private const string ReadSql = $"SELECT etag, state::text FROM grain_state WHERE {Key}";
    private const string EtagSql = $"SELECT etag FROM grain_state WHERE {Key}";
    private const string InsertSql = """
        INSERT INTO grain_state (grain_type, grain_key, state_name, etag, state)
        VALUES ($1, $2, $3, nextval('grain_state_etag'), $4)
        ON CONFLICT (grain_type, grain_key, state_name) DO NOTHING
        RETURNING etag
        """;
    private const string UpdateSql = $"""
        UPDATE grain_state SET etag = nextval('grain_state_etag'), state = $5, updated_at = now()
        WHERE {Key} AND etag = $4
        RETURNING etag
        """;
    private const string DeleteSql = $"DELETE FROM grain_state WHERE {Key} AND etag = $4";

    private readonly NpgsqlDataSource _dataSource;
    private readonly JsonSerializerOptions _json;
    private readonly IActivatorProvider? _activators;
    private readonly SchemaOnce _schema;

    /// <summary>Creates the provider over <paramref name="dataSource"/>, which the caller owns.</summary>
    /// <param name="dataSource">The database.</param>
    /// <param name="options">Serialization settings; defaults when null.</param>
    /// <param name="activators">Orleans' activators, used to create a fresh state object; <see cref="Activator"/> when null.</param>
    public NpgsqlGrainStorage(NpgsqlDataSource dataSource, NpgsqlGrainStorageOptions? options = null, IActivatorProvider? activators = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        _schema = new SchemaOnce(dataSource, Migrations);
        _json = (options ?? new NpgsqlGrainStorageOptions()).JsonSerializerOptions;
        _activators = activators;
    }

    /// <summary>
    /// The keys of the grains of <paramref name="grainType"/> (its <c>[GrainType]</c> name) that have
    /// stored state, in order: a directory of, say, every worker ever registered, without a table of its own.
    /// </summary>
    public static async Task<IReadOnlyList<string>> ListKeysAsync(NpgsqlDataSource dataSource, string grainType, CancellationToken ct = default)
    {
        await using var command = dataSource.CreateCommand("SELECT DISTINCT grain_key FROM grain_state WHERE grain_type = $1 ORDER BY grain_key");
        command.Parameters.AddWithValue(grainType);
        var keys = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            keys.Add(reader.GetString(0));
        return keys;
    }

    /// <summary>Up to <paramref name="limit"/> keys of a grain type's stored states after <paramref name="after"/>, in bytewise order.</summary>
    public static async Task<IReadOnlyList<string>> ListKeysAsync(NpgsqlDataSource dataSource, string grainType, string after, int limit, CancellationToken ct = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT DISTINCT grain_key COLLATE "C" FROM grain_state WHERE grain_type = $1 AND grain_key COLLATE "C" > $2 ORDER BY 1 LIMIT $3
            """);
        command.Parameters.AddWithValue(grainType);
        command.Parameters.AddWithValue(after);
        command.Parameters.AddWithValue(limit);
        var keys = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            keys.Add(reader.GetString(0));
        return keys;
    }

    /// <inheritdoc />
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ReadStateAsync(stateName, grainId, grainState, CancellationToken.None);

    /// <inheritdoc />
    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        WriteStateAsync(stateName, grainId, grainState, CancellationToken.None);

    /// <inheritdoc />
    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ClearStateAsync(stateName, grainId, grainState, CancellationToken.None);

    /// <inheritdoc />
    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        await EnsureSchemaAsync(cancellationToken);
        await using var command = Command(ReadSql, stateName, grainId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (await reader.ReadAsync(cancellationToken))
        {
            var etag = reader.GetInt64(0);
            grainState.State = JsonSerializer.Deserialize<T>(reader.GetString(1), _json) ?? NewState<T>();
            grainState.ETag = Format(etag);
            grainState.RecordExists = true;
        }
        else
        {
            grainState.State = NewState<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
        }
    }

    /// <inheritdoc />
    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        await EnsureSchemaAsync(cancellationToken);
        var json = new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = JsonSerializer.Serialize(grainState.State, _json) };
        object? written;
        if (grainState.ETag is null)
        {
            await using var insert = Command(InsertSql, stateName, grainId);
            insert.Parameters.Add(json);
            written = await insert.ExecuteScalarAsync(cancellationToken);
        }
        else if (TryParse(grainState.ETag, out var expected))
        {
            await using var update = Command(UpdateSql, stateName, grainId);
            update.Parameters.AddWithValue(expected);
            update.Parameters.Add(json);
            written = await update.ExecuteScalarAsync(cancellationToken);
        }
        else
        {
            written = null;
        }

        if (written is not long etag)
            throw await ConflictAsync("write", stateName, grainId, grainState.ETag, cancellationToken);
        grainState.ETag = Format(etag);
        grainState.RecordExists = true;
    }

    /// <inheritdoc />
    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        await EnsureSchemaAsync(cancellationToken);
        bool cleared;
        if (grainState.ETag is null)
        {
            cleared = await StoredEtagAsync(stateName, grainId, cancellationToken) is null;
        }
        else if (TryParse(grainState.ETag, out var expected))
        {
            await using var delete = Command(DeleteSql, stateName, grainId);
            delete.Parameters.AddWithValue(expected);
            cleared = await delete.ExecuteNonQueryAsync(cancellationToken) == 1;
        }
        else
        {
            cleared = false;
        }

        if (!cleared)
            throw await ConflictAsync("clear", stateName, grainId, grainState.ETag, cancellationToken);
        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = NewState<T>();
    }

    /// <summary>Applies <see cref="Migrations"/> when the silo starts, so a broken database fails the start.</summary>
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(NpgsqlGrainStorage), ServiceLifecycleStage.ApplicationServices, EnsureSchemaAsync);

    private Task EnsureSchemaAsync(CancellationToken cancellationToken) => _schema.EnsureAsync(cancellationToken);

    private NpgsqlCommand Command(string sql, string stateName, GrainId grainId)
    {
        var command = _dataSource.CreateCommand(sql);
        command.Parameters.AddWithValue(grainId.Type.ToString()!);
        command.Parameters.AddWithValue(grainId.Key.ToString()!);
        command.Parameters.AddWithValue(stateName);
        return command;
    }

    private async Task<long?> StoredEtagAsync(string stateName, GrainId grainId, CancellationToken cancellationToken)
    {
        await using var command = Command(EtagSql, stateName, grainId);
        return await command.ExecuteScalarAsync(cancellationToken) is long etag ? etag : null;
    }

    private async Task<InconsistentStateException> ConflictAsync(
        string operation, string stateName, GrainId grainId, string? currentEtag, CancellationToken cancellationToken)
    {
        var stored = await StoredEtagAsync(stateName, grainId, cancellationToken) is { } etag ? Format(etag) : null;
        return new InconsistentStateException(
            $"Cannot {operation} state '{stateName}' of grain {grainId}: the stored ETag is {stored ?? "none (no record)"}, the grain's is {currentEtag ?? "none"}.",
            stored,
            currentEtag);
    }

    private T NewState<T>() => _activators is null ? Activator.CreateInstance<T>() : _activators.GetActivator<T>().Create();

    private static string Format(long etag) => etag.ToString(CultureInfo.InvariantCulture);

    private static bool TryParse(string etag, out long value) =>
        long.TryParse(etag, NumberStyles.None, CultureInfo.InvariantCulture, out value);
}
