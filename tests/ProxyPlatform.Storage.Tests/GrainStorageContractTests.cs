using System.Diagnostics.CodeAnalysis;
using Npgsql;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.Storage.Tests;

public sealed class ProfileState
{
    public string DisplayName { get; set; } = "";
    public int Visits { get; set; }
    public List<string> Hostnames { get; set; } = [];
}

/// <summary>What a grain activation holds of its persistent state, as Orleans hands it to the storage.</summary>
public sealed class ProfileSlot(ProfileState? state = null, string? etag = null) : IGrainState<ProfileState>
{
    [AllowNull]
    public ProfileState State { get; set => field = value ?? new(); } = state ?? new();
    public string? ETag { get; set; } = etag;
    public bool RecordExists { get; set; }
}

/// <summary>NpgsqlGrainStorage against a real PostgreSQL: the ETag contract Orleans relies on.</summary>
public sealed class GrainStorageContractTests(StorageDatabase database) : IClassFixture<StorageDatabase>
{
    private const string StateName = "profile";
    private readonly NpgsqlGrainStorage _storage = new(database.DataSource);
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static GrainId NewGrain() => GrainId.Create("tenant", Guid.NewGuid().ToString("N"));

    private static ProfileSlot State(string name, int visits = 0, string? etag = null) =>
        new(new ProfileState { DisplayName = name, Visits = visits, Hostnames = [$"{name}.example"] }, etag);

    private async Task<ProfileSlot> ReadAsync(GrainId grain)
    {
        var state = new ProfileSlot();
        await _storage.ReadStateAsync(StateName, grain, state, Cancel);
        return state;
    }

    [Fact]
    public async Task Reading_a_grain_never_written_gives_a_new_state_without_etag_or_record()
    {
        var read = await ReadAsync(NewGrain());

        Assert.Null(read.ETag);
        Assert.False(read.RecordExists);
        Assert.NotNull(read.State);
        Assert.Equal("", read.State.DisplayName);
    }

    [Fact]
    public async Task Write_read_clear_round_trip_keeps_state_etag_and_record_flag_as_Orleans_expects()
    {
        var grain = NewGrain();
        var state = State("acme", visits: 3);

        await _storage.WriteStateAsync(StateName, grain, state, Cancel);
        Assert.NotNull(state.ETag);
        Assert.True(state.RecordExists);

        var read = await ReadAsync(grain);
        Assert.Equal(state.ETag, read.ETag);
        Assert.True(read.RecordExists);
        Assert.Equal("acme", read.State.DisplayName);
        Assert.Equal(3, read.State.Visits);
        Assert.Equal(["acme.example"], read.State.Hostnames);

        read.State.Visits = 4;
        var firstEtag = read.ETag;
        await _storage.WriteStateAsync(StateName, grain, read, Cancel);
        Assert.NotEqual(firstEtag, read.ETag);
        Assert.Equal(4, (await ReadAsync(grain)).State.Visits);

        await _storage.ClearStateAsync(StateName, grain, read, Cancel);
        Assert.Null(read.ETag);
        Assert.False(read.RecordExists);
        Assert.Equal(0, read.State.Visits);

        var afterClear = await ReadAsync(grain);
        Assert.Null(afterClear.ETag);
        Assert.False(afterClear.RecordExists);
    }

    [Fact]
    public async Task Every_write_gives_a_new_etag()
    {
        var grain = NewGrain();
        var state = State("acme");
        var etags = new HashSet<string>();
        for (var i = 0; i < 5; i++)
        {
            state.State.Visits = i;
            await _storage.WriteStateAsync(StateName, grain, state, Cancel);
            Assert.True(etags.Add(state.ETag!));
        }
    }

    [Fact]
    public async Task Write_with_a_stale_etag_raises_InconsistentStateException_and_changes_nothing()
    {
        var grain = NewGrain();
        await _storage.WriteStateAsync(StateName, grain, State("original"), Cancel);
        var first = await ReadAsync(grain);
        var second = await ReadAsync(grain);

        first.State.DisplayName = "first writer";
        await _storage.WriteStateAsync(StateName, grain, first, Cancel);

        second.State.DisplayName = "second writer";
        var staleEtag = second.ETag;
        var error = await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync(StateName, grain, second, Cancel));
        Assert.Equal(first.ETag, error.StoredEtag);
        Assert.Equal(staleEtag, error.CurrentEtag);
        Assert.Equal(staleEtag, second.ETag);

        var stored = await ReadAsync(grain);
        Assert.Equal("first writer", stored.State.DisplayName);
        Assert.Equal(first.ETag, stored.ETag);
    }

    [Fact]
    public async Task Inserting_a_new_record_when_one_exists_raises_InconsistentStateException()
    {
        var grain = NewGrain();
        var existing = State("existing");
        await _storage.WriteStateAsync(StateName, grain, existing, Cancel);

        var error = await Assert.ThrowsAsync<InconsistentStateException>(
            () => _storage.WriteStateAsync(StateName, grain, State("newcomer"), Cancel));

        Assert.Equal(existing.ETag, error.StoredEtag);
        Assert.Null(error.CurrentEtag);
        Assert.Equal("existing", (await ReadAsync(grain)).State.DisplayName);
    }

    [Fact]
    public async Task Write_with_an_etag_when_there_is_no_record_raises_InconsistentStateException()
    {
        var error = await Assert.ThrowsAsync<InconsistentStateException>(
            () => _storage.WriteStateAsync(StateName, NewGrain(), State("ghost", etag: "12345"), Cancel));

        Assert.Null(error.StoredEtag);
        Assert.Equal("12345", error.CurrentEtag);
    }

    [Fact]
    public async Task Write_with_an_etag_that_is_not_ours_raises_InconsistentStateException()
    {
        var grain = NewGrain();
        await _storage.WriteStateAsync(StateName, grain, State("acme"), Cancel);

        await Assert.ThrowsAsync<InconsistentStateException>(
            () => _storage.WriteStateAsync(StateName, grain, State("acme", etag: "W/\"not-a-version\""), Cancel));
    }

    [Fact]
    public async Task Clear_with_a_stale_etag_raises_InconsistentStateException_and_keeps_the_record()
    {
        var grain = NewGrain();
        var state = State("acme");
        await _storage.WriteStateAsync(StateName, grain, state, Cancel);
        var stale = new ProfileSlot(state.State, state.ETag);
        await _storage.WriteStateAsync(StateName, grain, state, Cancel);

        var error = await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.ClearStateAsync(StateName, grain, stale, Cancel));

        Assert.Equal(state.ETag, error.StoredEtag);
        var read = await ReadAsync(grain);
        Assert.True(read.RecordExists);
        Assert.Equal(state.ETag, read.ETag);
    }

    [Fact]
    public async Task Clear_without_etag_of_an_existing_record_raises_InconsistentStateException()
    {
        var grain = NewGrain();
        await _storage.WriteStateAsync(StateName, grain, State("acme"), Cancel);

        await Assert.ThrowsAsync<InconsistentStateException>(
            () => _storage.ClearStateAsync(StateName, grain, new ProfileSlot(new ProfileState()), Cancel));
        Assert.True((await ReadAsync(grain)).RecordExists);
    }

    [Fact]
    public async Task Clear_without_etag_when_there_is_no_record_succeeds()
    {
        var state = new ProfileSlot(new ProfileState());

        await _storage.ClearStateAsync(StateName, NewGrain(), state, Cancel);

        Assert.Null(state.ETag);
        Assert.False(state.RecordExists);
    }

    [Fact]
    public async Task A_cleared_grain_can_be_written_again_and_old_etags_never_come_back()
    {
        var grain = NewGrain();
        var state = State("acme");
        await _storage.WriteStateAsync(StateName, grain, state, Cancel);
        var beforeClear = state.ETag;
        await _storage.ClearStateAsync(StateName, grain, state, Cancel);

        state.State.DisplayName = "acme again";
        await _storage.WriteStateAsync(StateName, grain, state, Cancel);

        Assert.NotEqual(beforeClear, state.ETag);
        await Assert.ThrowsAsync<InconsistentStateException>(
            () => _storage.WriteStateAsync(StateName, grain, State("from before the clear", etag: beforeClear), Cancel));
        Assert.Equal("acme again", (await ReadAsync(grain)).State.DisplayName);
    }

    [Fact]
    public async Task Concurrent_writers_with_the_same_etag_let_exactly_one_win()
    {
        var grain = NewGrain();
        var seed = State("seed");
        await _storage.WriteStateAsync(StateName, grain, seed, Cancel);

        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var attempts = Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            var mine = State($"writer-{i}", visits: i, etag: seed.ETag);
            await start.Task.WaitAsync(Cancel);
            try
            {
                await _storage.WriteStateAsync(StateName, grain, mine, Cancel);
                return mine;
            }
            catch (InconsistentStateException)
            {
                return null;
            }
        }, Cancel)).ToList();
        start.SetResult();
        var results = await Task.WhenAll(attempts);

        var winner = Assert.Single(results, r => r is not null)!;
        var stored = await ReadAsync(grain);
        Assert.Equal(winner.ETag, stored.ETag);
        Assert.Equal(winner.State.DisplayName, stored.State.DisplayName);
    }

    [Fact]
    public async Task Concurrent_first_writes_let_exactly_one_insert()
    {
        var grain = NewGrain();

        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var attempts = Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            await start.Task.WaitAsync(Cancel);
            try
            {
                await _storage.WriteStateAsync(StateName, grain, State($"writer-{i}"), Cancel);
                return true;
            }
            catch (InconsistentStateException)
            {
                return false;
            }
        }, Cancel)).ToList();
        start.SetResult();

        Assert.Single(await Task.WhenAll(attempts), won => won);
    }

    [Fact]
    public async Task State_is_stored_as_jsonb_an_operator_can_query_in_camel_case()
    {
        var grain = NewGrain();
        var state = State("Acme Corp", visits: 7);
        await _storage.WriteStateAsync(StateName, grain, state, Cancel);

        await using var command = database.DataSource.CreateCommand("""
            SELECT state->>'displayName', (state->>'visits')::int, state->'hostnames'->>0, pg_typeof(state)::text, etag::text
            FROM grain_state WHERE grain_type = $1 AND grain_key = $2 AND state_name = $3
            """);
        command.Parameters.AddWithValue(grain.Type.ToString()!);
        command.Parameters.AddWithValue(grain.Key.ToString()!);
        command.Parameters.AddWithValue(StateName);
        await using var reader = await command.ExecuteReaderAsync(Cancel);

        Assert.True(await reader.ReadAsync(Cancel));
        Assert.Equal("Acme Corp", reader.GetString(0));
        Assert.Equal(7, reader.GetInt32(1));
        Assert.Equal("Acme Corp.example", reader.GetString(2));
        Assert.Equal("jsonb", reader.GetString(3));
        Assert.Equal(state.ETag, reader.GetString(4));
    }

    [Fact]
    public async Task States_of_other_grains_and_other_state_names_are_kept_apart()
    {
        var grain = NewGrain();
        var other = NewGrain();
        await _storage.WriteStateAsync(StateName, grain, State("profile"), Cancel);
        await _storage.WriteStateAsync("settings", grain, State("settings"), Cancel);
        await _storage.WriteStateAsync(StateName, other, State("other grain"), Cancel);

        Assert.Equal("profile", (await ReadAsync(grain)).State.DisplayName);
        Assert.Equal("other grain", (await ReadAsync(other)).State.DisplayName);
        var settings = new ProfileSlot();
        await _storage.ReadStateAsync("settings", grain, settings, Cancel);
        Assert.Equal("settings", settings.State.DisplayName);
    }

    [Fact]
    public async Task Storage_creates_its_schema_itself_when_the_host_did_not_migrate()
    {
        var server = await Testing.PostgresServer.GetAsync();
        await using var fresh = NpgsqlDataSource.Create(await server.CreateDatabaseAsync("storage_lazy_schema"));
        var storage = new NpgsqlGrainStorage(fresh);
        var grain = NewGrain();

        await storage.WriteStateAsync(StateName, grain, State("lazy"), Cancel);

        var read = new ProfileSlot();
        await storage.ReadStateAsync(StateName, grain, read, Cancel);
        Assert.Equal("lazy", read.State.DisplayName);
    }
}
