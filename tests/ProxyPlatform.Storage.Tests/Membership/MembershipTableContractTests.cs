using System.Net;
using Npgsql;
using Orleans;
using Orleans.Runtime;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Testing;

namespace ProxyPlatform.Storage.Tests.Membership;

/// <summary>
/// NpgsqlMembershipTable against a real PostgreSQL: the contract of Orleans' IMembershipTable that
/// the membership protocol relies on (conditional writes on row and version ETags, atomic reads).
/// Every test works in a cluster of its own.
/// </summary>
public sealed class MembershipTableContractTests(MembershipDatabase database) : IClassFixture<MembershipDatabase>
{
    private static int _generation = 100_000_000;
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private readonly NpgsqlDataSource _db = database.DataSource;

    private async Task<NpgsqlMembershipTable> NewClusterAsync()
    {
        var table = new NpgsqlMembershipTable(_db, $"cluster-{Guid.NewGuid():N}");
        await table.InitializeMembershipTableAsync(true, Cancel);
        return table;
    }

    private static SiloAddress NewSilo(int port = 11111) =>
        SiloAddress.New(IPAddress.Loopback, port, Interlocked.Increment(ref _generation));

    /// <summary>Now, to the microsecond: what a timestamptz keeps.</summary>
    private static DateTime Now()
    {
        var now = DateTime.UtcNow;
        return new DateTime(now.Ticks - now.Ticks % 10, DateTimeKind.Utc);
    }

    private static MembershipEntry Entry(SiloStatus status = SiloStatus.Joining, SiloAddress? silo = null, DateTime? at = null)
    {
        silo ??= NewSilo();
        var time = at ?? Now();
        return new MembershipEntry
        {
            SiloAddress = silo,
            SiloName = $"silo-{silo.Generation}",
            HostName = "control-plane-1",
            Status = status,
            ProxyPort = 30000,
            StartTime = time,
            IAmAliveTime = time,
        };
    }

    private static async Task<TableVersion> InsertAsync(IMembershipTable table, MembershipEntry entry)
    {
        var version = (await table.ReadAllAsync(Cancel)).Version;
        Assert.True(await table.InsertRowAsync(entry, version.Next(), Cancel));
        return version.Next();
    }

    private static async Task<(MembershipEntry Entry, string Etag, TableVersion Version)> RowAsync(IMembershipTable table, SiloAddress silo)
    {
        var data = await table.ReadRowAsync(silo, Cancel);
        var (entry, etag) = Assert.Single(data.Members);
        return (entry, etag, data.Version);
    }

    private static void AssertSameEntry(MembershipEntry expected, MembershipEntry actual)
    {
        Assert.Equal(expected.SiloAddress, actual.SiloAddress);
        Assert.Equal(expected.SiloName, actual.SiloName);
        Assert.Equal(expected.HostName, actual.HostName);
        Assert.Equal(expected.Status, actual.Status);
        Assert.Equal(expected.ProxyPort, actual.ProxyPort);
        Assert.Equal(expected.RoleName, actual.RoleName);
        Assert.Equal(expected.UpdateZone, actual.UpdateZone);
        Assert.Equal(expected.FaultZone, actual.FaultZone);
        Assert.Equal(expected.StartTime, actual.StartTime);
        Assert.Equal(DateTimeKind.Utc, actual.StartTime.Kind);
        Assert.Equal(expected.IAmAliveTime, actual.IAmAliveTime);
        if (expected.SuspectTimes is null)
        {
            Assert.Null(actual.SuspectTimes);
        }
        else
        {
            Assert.NotNull(actual.SuspectTimes);
            Assert.Equal(expected.SuspectTimes.Select(v => (v.Item1, v.Item2)), actual.SuspectTimes.Select(v => (v.Item1, v.Item2)));
            Assert.All(actual.SuspectTimes, v => Assert.Equal(DateTimeKind.Utc, v.Item2.Kind));
        }
        Assert.Equal(expected.ToFullString(), actual.ToFullString());
    }

    private async Task<long> CountAsync(string sql, string clusterId)
    {
        await using var command = _db.CreateCommand(sql);
        command.Parameters.AddWithValue(clusterId);
        return (long)(await command.ExecuteScalarAsync(Cancel))!;
    }

    [Fact]
    public async Task Initializing_repeatedly_and_concurrently_creates_one_empty_table_at_version_zero()
    {
        var clusterId = $"cluster-{Guid.NewGuid():N}";
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var silos = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            await start.Task.WaitAsync(Cancel);
            await new NpgsqlMembershipTable(_db, clusterId).InitializeMembershipTableAsync(true, Cancel);
        }, Cancel)).ToList();
        start.SetResult();
        await Task.WhenAll(silos);

        var table = new NpgsqlMembershipTable(_db, clusterId);
        var before = await table.ReadAllAsync(Cancel);
        await table.InitializeMembershipTableAsync(true, Cancel);
        var after = await table.ReadAllAsync(Cancel);

        Assert.Empty(after.Members);
        Assert.Equal(0, after.Version.Version);
        Assert.False(string.IsNullOrEmpty(after.Version.VersionEtag));
        Assert.Equal(before.Version, after.Version);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM membership_version WHERE cluster_id = $1", clusterId));
    }

    [Fact]
    public async Task Initializing_without_the_version_flag_leaves_the_cluster_uncreated()
    {
        var clusterId = $"cluster-{Guid.NewGuid():N}";
        var table = new NpgsqlMembershipTable(_db, clusterId);

        await table.InitializeMembershipTableAsync(false, Cancel);

        Assert.Equal(0, await CountAsync("SELECT count(*) FROM membership_version WHERE cluster_id = $1", clusterId));
        var data = await table.ReadAllAsync(Cancel);
        Assert.Empty(data.Members);
        Assert.Equal(0, data.Version.Version);
        Assert.False(await table.InsertRowAsync(Entry(), data.Version.Next(), Cancel));
    }

    [Fact]
    public async Task An_inserted_entry_reads_back_with_every_field_and_moves_the_table_version_on()
    {
        var table = await NewClusterAsync();
        var empty = await table.ReadAllAsync(Cancel);
        var entry = Entry(SiloStatus.Active);
        entry.RoleName = "control-plane";
        entry.UpdateZone = 2;
        entry.FaultZone = 3;
        entry.StartTime = Now().AddMinutes(-5);
        // Suspicion votes keep their full precision, sub-microsecond ticks included.
        entry.SuspectTimes = [Tuple.Create(NewSilo(11112), DateTime.UtcNow.AddSeconds(-2)), Tuple.Create(NewSilo(11113), DateTime.UtcNow)];

        Assert.True(await table.InsertRowAsync(entry, empty.Version.Next(), Cancel));

        var (row, etag, version) = await RowAsync(table, entry.SiloAddress);
        AssertSameEntry(entry, row);
        Assert.False(string.IsNullOrEmpty(etag));
        Assert.Equal(1, version.Version);
        Assert.NotEqual(empty.Version.VersionEtag, version.VersionEtag);

        var all = await table.ReadAllAsync(Cancel);
        var (fromAll, etagFromAll) = Assert.Single(all.Members);
        AssertSameEntry(entry, fromAll);
        Assert.Equal(etag, etagFromAll);
        Assert.Equal(version, all.Version);
    }

    [Fact]
    public async Task Reading_the_row_of_an_unknown_silo_gives_no_entry_but_the_current_version()
    {
        var table = await NewClusterAsync();
        var version = await InsertAsync(table, Entry());

        var data = await table.ReadRowAsync(NewSilo(), Cancel);

        Assert.Empty(data.Members);
        Assert.Equal(version.Version, data.Version.Version);
        Assert.Equal((await table.ReadAllAsync(Cancel)).Version, data.Version);
    }

    [Fact]
    public async Task Insert_with_a_stale_table_version_etag_fails_and_changes_nothing()
    {
        var table = await NewClusterAsync();
        var stale = (await table.ReadAllAsync(Cancel)).Version;
        await InsertAsync(table, Entry());
        var current = await table.ReadAllAsync(Cancel);

        Assert.False(await table.InsertRowAsync(Entry(), stale.Next(), Cancel));
        Assert.False(await table.InsertRowAsync(Entry(), new TableVersion(current.Version.Version + 1, "not-an-etag"), Cancel));

        var after = await table.ReadAllAsync(Cancel);
        Assert.Single(after.Members);
        Assert.Equal(current.Version, after.Version);
    }

    [Fact]
    public async Task Inserting_the_same_silo_twice_fails_even_at_the_current_version()
    {
        var table = await NewClusterAsync();
        var entry = Entry();
        await InsertAsync(table, entry);
        var current = await table.ReadAllAsync(Cancel);

        var again = Entry(SiloStatus.Active, entry.SiloAddress);
        Assert.False(await table.InsertRowAsync(again, current.Version.Next(), Cancel));

        var after = await table.ReadAllAsync(Cancel);
        Assert.Equal(current.Version, after.Version);
        var (stored, etag) = Assert.Single(after.Members);
        Assert.Equal(SiloStatus.Joining, stored.Status);
        Assert.Equal(current.Members[0].Item2, etag);
    }

    [Fact]
    public async Task Update_replaces_the_entry_and_changes_both_the_row_etag_and_the_table_version()
    {
        var table = await NewClusterAsync();
        var entry = Entry();
        await InsertAsync(table, entry);
        var (_, etag, version) = await RowAsync(table, entry.SiloAddress);

        var active = Entry(SiloStatus.Active, entry.SiloAddress, Now().AddSeconds(1));
        active.ProxyPort = 30001;
        Assert.True(await table.UpdateRowAsync(active, etag, version.Next(), Cancel));

        var (row, newEtag, newVersion) = await RowAsync(table, entry.SiloAddress);
        AssertSameEntry(active, row);
        Assert.NotEqual(etag, newEtag);
        Assert.Equal(version.Version + 1, newVersion.Version);
        Assert.NotEqual(version.VersionEtag, newVersion.VersionEtag);
    }

    [Fact]
    public async Task Update_with_a_wrong_row_etag_fails_and_changes_nothing()
    {
        var table = await NewClusterAsync();
        var entry = Entry();
        await InsertAsync(table, entry);
        var (_, etag, version) = await RowAsync(table, entry.SiloAddress);

        var active = Entry(SiloStatus.Active, entry.SiloAddress);
        Assert.False(await table.UpdateRowAsync(active, etag + "1", version.Next(), Cancel));
        Assert.False(await table.UpdateRowAsync(active, "garbage", version.Next(), Cancel));
        Assert.False(await table.UpdateRowAsync(Entry(SiloStatus.Active), etag, version.Next(), Cancel));

        var (row, etagAfter, versionAfter) = await RowAsync(table, entry.SiloAddress);
        AssertSameEntry(entry, row);
        Assert.Equal(etag, etagAfter);
        Assert.Equal(version, versionAfter);
    }

    [Fact]
    public async Task Update_with_a_stale_table_version_etag_fails_and_changes_nothing()
    {
        var table = await NewClusterAsync();
        var entry = Entry();
        await InsertAsync(table, entry);
        var (_, etag, version) = await RowAsync(table, entry.SiloAddress);
        // Another silo joins: the version moves on, this silo's row (and its ETag) does not.
        await InsertAsync(table, Entry());

        Assert.False(await table.UpdateRowAsync(Entry(SiloStatus.Active, entry.SiloAddress), etag, version.Next(), Cancel));

        var (row, etagAfter, versionAfter) = await RowAsync(table, entry.SiloAddress);
        AssertSameEntry(entry, row);
        Assert.Equal(etag, etagAfter);
        Assert.Equal(version.Version + 1, versionAfter.Version);

        Assert.True(await table.UpdateRowAsync(Entry(SiloStatus.Active, entry.SiloAddress), etag, versionAfter.Next(), Cancel));
    }

    [Fact]
    public async Task Concurrent_inserts_of_different_silos_at_one_table_version_let_exactly_one_win()
    {
        var clusterId = (await NewClusterAsync()).ClusterId;
        var version = (await new NpgsqlMembershipTable(_db, clusterId).ReadAllAsync(Cancel)).Version.Next();
        var entries = Enumerable.Range(0, 16).Select(_ => Entry()).ToList();

        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var attempts = entries.Select(entry => Task.Run(async () =>
        {
            var silo = new NpgsqlMembershipTable(_db, clusterId);
            await start.Task.WaitAsync(Cancel);
            return await silo.InsertRowAsync(entry, version, Cancel);
        }, Cancel)).ToList();
        start.SetResult();
        var results = await Task.WhenAll(attempts);

        var winner = entries[Array.IndexOf(results, true)];
        Assert.Single(results, won => won);
        var data = await new NpgsqlMembershipTable(_db, clusterId).ReadAllAsync(Cancel);
        Assert.Equal(winner.SiloAddress, Assert.Single(data.Members).Item1.SiloAddress);
        Assert.Equal(version.Version, data.Version.Version);
    }

    [Fact]
    public async Task Concurrent_updates_of_one_row_let_exactly_one_win()
    {
        var table = await NewClusterAsync();
        var entry = Entry();
        await InsertAsync(table, entry);
        var (_, etag, version) = await RowAsync(table, entry.SiloAddress);

        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var attempts = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
        {
            var silo = new NpgsqlMembershipTable(_db, table.ClusterId);
            var mine = Entry(SiloStatus.Active, entry.SiloAddress);
            mine.SiloName = $"writer-{i}";
            await start.Task.WaitAsync(Cancel);
            return await silo.UpdateRowAsync(mine, etag, version.Next(), Cancel) ? mine.SiloName : null;
        }, Cancel)).ToList();
        start.SetResult();
        var results = await Task.WhenAll(attempts);

        var winner = Assert.Single(results, name => name is not null);
        var (row, _, after) = await RowAsync(table, entry.SiloAddress);
        Assert.Equal(winner, row.SiloName);
        Assert.Equal(version.Version + 1, after.Version);
    }

    [Fact]
    public async Task I_am_alive_changes_only_the_alive_time_and_neither_etag_nor_version()
    {
        var table = await NewClusterAsync();
        var entry = Entry(SiloStatus.Active);
        entry.SuspectTimes = [Tuple.Create(NewSilo(11112), DateTime.UtcNow)];
        await InsertAsync(table, entry);
        var (_, etag, version) = await RowAsync(table, entry.SiloAddress);

        // What the membership protocol sends: the address and the time, nothing else.
        var alive = Now().AddSeconds(5);
        await table.UpdateIAmAliveAsync(new MembershipEntry { SiloAddress = entry.SiloAddress, IAmAliveTime = alive }, Cancel);

        var (row, etagAfter, versionAfter) = await RowAsync(table, entry.SiloAddress);
        Assert.Equal(alive, row.IAmAliveTime);
        entry.IAmAliveTime = alive;
        AssertSameEntry(entry, row);
        Assert.Equal(etag, etagAfter);
        Assert.Equal(version, versionAfter);
        Assert.True(await table.UpdateRowAsync(row, etagAfter, versionAfter.Next(), Cancel));

        // A silo without a row (e.g. already cleaned up) is not an error.
        await table.UpdateIAmAliveAsync(new MembershipEntry { SiloAddress = NewSilo(), IAmAliveTime = alive }, Cancel);
    }

    [Fact]
    public async Task A_silo_suspected_and_then_declared_dead_keeps_its_votes_and_status()
    {
        var table = await NewClusterAsync();
        var entry = Entry(SiloStatus.Active);
        await InsertAsync(table, entry);
        var first = NewSilo(11112);
        var second = NewSilo(11113);

        var (row, etag, version) = await RowAsync(table, entry.SiloAddress);
        row.AddOrUpdateSuspector(first, DateTime.UtcNow, maxVotes: 2);
        Assert.True(await table.UpdateRowAsync(row, etag, version.Next(), Cancel));

        var (suspected, suspectedEtag, suspectedVersion) = await RowAsync(table, entry.SiloAddress);
        Assert.Equal(SiloStatus.Active, suspected.Status);
        Assert.Equal([first], suspected.SuspectTimes!.Select(v => v.Item1));

        suspected.AddOrUpdateSuspector(second, DateTime.UtcNow, maxVotes: 2);
        suspected.Status = SiloStatus.Dead;
        Assert.True(await table.UpdateRowAsync(suspected, suspectedEtag, suspectedVersion.Next(), Cancel));

        var (dead, _, deadVersion) = await RowAsync(table, entry.SiloAddress);
        Assert.Equal(SiloStatus.Dead, dead.Status);
        AssertSameEntry(suspected, dead);
        Assert.Equal([first, second], dead.SuspectTimes!.Select(v => v.Item1));
        Assert.Equal(version.Version + 2, deadVersion.Version);
    }

    [Fact]
    public async Task Cleanup_removes_only_entries_of_dead_silos_unchanged_since_the_cutoff()
    {
        var table = await NewClusterAsync();
        var other = await NewClusterAsync();
        var longAgo = Now().AddDays(-10);
        var cutoff = Now().AddDays(-7);

        var oldDead = Entry(SiloStatus.Dead, at: longAgo);
        var oldDeadWithOldVotes = Entry(SiloStatus.Dead, at: longAgo);
        oldDeadWithOldVotes.SuspectTimes = [Tuple.Create(NewSilo(11112), longAgo.AddMinutes(1))];
        var recentDead = Entry(SiloStatus.Dead);
        // Last heard of long ago, but declared dead (which records a vote) only now: kept, so that
        // the recently departed stay visible, as Orleans' cleanup agent expects.
        var justDeclaredDead = Entry(SiloStatus.Dead, at: longAgo);
        justDeclaredDead.SuspectTimes = [Tuple.Create(NewSilo(11112), DateTime.UtcNow)];
        // Started after the cut-off, with a stale heartbeat: its start counts as a sign of life.
        var restartedDead = Entry(SiloStatus.Dead, at: longAgo);
        restartedDead.StartTime = Now();
        // Old, but not Dead: the membership protocol has yet to decide about these.
        var oldActive = Entry(SiloStatus.Active, at: longAgo);
        var oldJoining = Entry(SiloStatus.Joining, at: longAgo);
        var oldShuttingDown = Entry(SiloStatus.ShuttingDown, at: longAgo);
        foreach (var entry in new[] { oldDead, oldDeadWithOldVotes, recentDead, justDeclaredDead, restartedDead, oldActive, oldJoining, oldShuttingDown })
            await InsertAsync(table, entry);
        var otherClustersOldDead = Entry(SiloStatus.Dead, at: longAgo);
        await InsertAsync(other, otherClustersOldDead);
        var version = (await table.ReadAllAsync(Cancel)).Version;

        await table.CleanupDefunctSiloEntriesAsync(cutoff, Cancel);

        var left = await table.ReadAllAsync(Cancel);
        Assert.Equal(
            new[] { recentDead, justDeclaredDead, restartedDead, oldActive, oldJoining, oldShuttingDown }.Select(e => e.SiloAddress).Order(),
            left.Members.Select(m => m.Item1.SiloAddress).Order());
        Assert.Equal(version, left.Version);
        Assert.Equal(otherClustersOldDead.SiloAddress, Assert.Single((await other.ReadAllAsync(Cancel)).Members).Item1.SiloAddress);

        // The cleanup agent may pass the largest cut-off there is: every dead silo goes.
        await table.CleanupDefunctSiloEntriesAsync(DateTimeOffset.MaxValue, Cancel);
        Assert.Equal(
            new[] { oldActive, oldJoining, oldShuttingDown }.Select(e => e.SiloAddress).Order(),
            (await table.ReadAllAsync(Cancel)).Members.Select(m => m.Item1.SiloAddress).Order());
    }

    [Fact]
    public async Task Deleting_a_clusters_entries_removes_that_cluster_only()
    {
        var doomed = await NewClusterAsync();
        var kept = await NewClusterAsync();
        await InsertAsync(doomed, Entry(SiloStatus.Active));
        await InsertAsync(doomed, Entry(SiloStatus.Dead));
        var survivor = Entry(SiloStatus.Active);
        await InsertAsync(kept, survivor);
        var keptVersion = (await kept.ReadAllAsync(Cancel)).Version;

        await kept.DeleteMembershipTableEntriesAsync(doomed.ClusterId, Cancel);

        var gone = await doomed.ReadAllAsync(Cancel);
        Assert.Empty(gone.Members);
        Assert.Equal(0, gone.Version.Version);
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM membership_silo WHERE cluster_id = $1", doomed.ClusterId));
        Assert.False(await doomed.InsertRowAsync(Entry(), gone.Version.Next(), Cancel));

        var left = await kept.ReadAllAsync(Cancel);
        Assert.Equal(survivor.SiloAddress, Assert.Single(left.Members).Item1.SiloAddress);
        Assert.Equal(keptVersion, left.Version);

        await doomed.InitializeMembershipTableAsync(true, Cancel);
        await InsertAsync(doomed, Entry());
    }

    [Fact]
    public async Task Gateways_are_the_active_silos_of_the_cluster_with_a_gateway_port()
    {
        var table = await NewClusterAsync();
        var other = await NewClusterAsync();
        var active = Entry(SiloStatus.Active, NewSilo(11111));
        active.ProxyPort = 30001;
        var secondActive = Entry(SiloStatus.Active, NewSilo(11112));
        secondActive.ProxyPort = 30002;
        var noGateway = Entry(SiloStatus.Active, NewSilo(11113));
        noGateway.ProxyPort = 0;
        var joining = Entry(SiloStatus.Joining, NewSilo(11114));
        var dead = Entry(SiloStatus.Dead, NewSilo(11115));
        foreach (var entry in new[] { active, secondActive, noGateway, joining, dead })
            await InsertAsync(table, entry);
        await InsertAsync(other, Entry(SiloStatus.Active, NewSilo(11116)));

        var provider = new NpgsqlGatewayListProvider(_db, table.ClusterId, TimeSpan.FromSeconds(30));
        await provider.InitializeGatewayListProviderAsync(Cancel);
        var gateways = await provider.GetGatewaysAsync(Cancel);

        Assert.Equal(
            new[]
            {
                SiloAddress.New(IPAddress.Loopback, 30001, active.SiloAddress.Generation).ToGatewayUri(),
                SiloAddress.New(IPAddress.Loopback, 30002, secondActive.SiloAddress.Generation).ToGatewayUri(),
            },
            gateways);
        Assert.Equal(TimeSpan.FromSeconds(30), provider.MaxStaleness);
    }

    [Fact]
    public async Task Membership_creates_its_schema_itself_when_the_host_did_not_migrate()
    {
        var server = await PostgresServer.GetAsync();
        await using var fresh = NpgsqlDataSource.Create(await server.CreateDatabaseAsync("membership_lazy_schema"));
        var table = new NpgsqlMembershipTable(fresh, "lazy");

        await table.InitializeMembershipTableAsync(true, Cancel);
        await InsertAsync(table, Entry());

        Assert.Single((await table.ReadAllAsync(Cancel)).Members);
        await using var ledger = fresh.CreateCommand("SELECT version FROM schema_migrations WHERE component = 'membership'");
        Assert.Equal(1, await ledger.ExecuteScalarAsync(Cancel));
    }
}
