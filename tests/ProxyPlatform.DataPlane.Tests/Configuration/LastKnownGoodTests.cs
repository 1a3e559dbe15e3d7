using System.Buffers.Binary;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Tests.Infrastructure;
using ProxyPlatform.Protos.DataPlane;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.Resources;

namespace ProxyPlatform.DataPlane.Tests.Configuration;

/// <summary>The last-known-good file written by a real worker's applier and read back by the next one over the same folder.</summary>
public sealed class LastKnownGoodTests : IDisposable
{
    private readonly TempDirectory _root = new();
    private readonly List<WorkerConfiguration> _workers = [];
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private string DataDir => Path.Combine(_root.Path, "data");
    private string CurrentFile => Path.Combine(DataDir, LastKnownGood.FileName);
    private string PreviousFile => Path.Combine(DataDir, LastKnownGood.PreviousFileName);

    private WorkerConfiguration Start()
    {
        var worker = new WorkerConfiguration(DataDir);
        _workers.Add(worker);
        return worker;
    }

    public void Dispose()
    {
        foreach (var worker in _workers)
            worker.Dispose();
        _root.Dispose();
    }

    [Fact]
    public async Task Record_with_a_flipped_byte_ends_the_restore_at_the_record_before_it()
    {
        await SaveOneByOneAsync(Start().Applier, AcmeSnapshot(revision: 1), RouteAdded(1, 2), RouteAdded(2, 3), RouteAdded(3, 4));
        var bytes = await File.ReadAllBytesAsync(CurrentFile, Cancel);
        var records = RecordOffsets(bytes);
        Assert.Equal(4, records.Count);
        // One bit of revision 3's route path ("/r3" becomes "/s3"): still a well-formed update, but not the one saved.
        var path = bytes.AsSpan(records[2], records[3] - records[2]).IndexOf("/r3"u8);
        Assert.True(path > 0);
        bytes[records[2] + path + 1] ^= 0x01;
        await File.WriteAllBytesAsync(CurrentFile, bytes, Cancel);

        var restarted = Start().Applier;
        Assert.True(await restarted.RestoreLastKnownGoodAsync(Cancel));

        Assert.Equal(2, restarted.AppliedRevision);
        Assert.Equal(["acme/api", "acme/r2"], RouteNames(restarted));
    }

    [Fact]
    public async Task Truncated_last_record_is_recovered_to_the_record_before_it()
    {
        await SaveOneByOneAsync(Start().Applier, AcmeSnapshot(revision: 1), RouteAdded(1, 2), RouteAdded(2, 3));
        var bytes = await File.ReadAllBytesAsync(CurrentFile, Cancel);
        // A crash in the middle of appending revision 3.
        await File.WriteAllBytesAsync(CurrentFile, bytes[..^7], Cancel);

        var restarted = Start();
        Assert.True(await restarted.Applier.RestoreLastKnownGoodAsync(Cancel));
        Assert.Equal(2, restarted.Applier.AppliedRevision);
        Assert.Equal(2, restarted.Applier.SavedRevision);

        // The next save does not append after the torn record: it writes a new file, read whole on the next start.
        await SaveOneByOneAsync(restarted.Applier, RouteAdded(2, 5));
        var again = Start().Applier;
        Assert.True(await again.RestoreLastKnownGoodAsync(Cancel));
        Assert.Equal(5, again.AppliedRevision);
        Assert.Equal(["acme/api", "acme/r2", "acme/r5"], RouteNames(again));
    }

    [Fact]
    public async Task Current_file_corrupt_from_its_first_record_falls_back_to_the_previous_file_which_the_next_save_keeps()
    {
        var first = Start().Applier;
        await SaveOneByOneAsync(first, AcmeSnapshot(revision: 1), RouteAdded(1, 2));
        // A snapshot starts a new file; the one it replaces is kept as the previous file.
        await SaveOneByOneAsync(first, AcmeSnapshot(revision: 3));
        Assert.True(File.Exists(PreviousFile));
        var bytes = await File.ReadAllBytesAsync(CurrentFile, Cancel);
        bytes[ConfigJournal.HeaderLength + 8 + 2] ^= 0x40;
        await File.WriteAllBytesAsync(CurrentFile, bytes, Cancel);

        var restarted = Start().Applier;
        Assert.True(await restarted.RestoreLastKnownGoodAsync(Cancel));
        Assert.Equal(2, restarted.AppliedRevision);
        Assert.Equal(["acme/api", "acme/r2"], RouteNames(restarted));

        // The unusable file is replaced, not kept: the previous file stays the fallback.
        await SaveOneByOneAsync(restarted, RouteAdded(2, 4));
        Assert.Equal(4, await RestoredRevisionAsync());
        await File.WriteAllTextAsync(CurrentFile, "not a configuration", Cancel);
        Assert.Equal(2, await RestoredRevisionAsync());
    }

    [Fact]
    public async Task Neither_file_usable_starts_the_worker_empty()
    {
        Directory.CreateDirectory(DataDir);
        await File.WriteAllTextAsync(CurrentFile, "{\"revision\": 3", Cancel);
        await File.WriteAllBytesAsync(PreviousFile, [], Cancel);

        var applier = Start().Applier;

        Assert.False(await applier.RestoreLastKnownGoodAsync(Cancel));
        Assert.Null(applier.Current);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Files_are_readable_and_writable_by_the_workers_user_only()
    {
        var applier = Start().Applier;
        await SaveOneByOneAsync(applier, AcmeSnapshot(revision: 1), AcmeSnapshot(revision: 2));

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(CurrentFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(PreviousFile));
    }

    [Fact]
    public async Task Save_that_fails_is_retried_and_the_revision_counts_as_saved_only_once_a_save_succeeded()
    {
        var worker = Start();
        var applier = worker.Applier;
        await SaveOneByOneAsync(applier, AcmeSnapshot(revision: 1));
        // A data folder that is a regular file fails every write in it, whoever the process runs as.
        Directory.Delete(DataDir, recursive: true);
        await File.WriteAllTextAsync(DataDir, "in the way", Cancel);

        Assert.Equal(ApplyOutcome.Applied, (await applier.ApplyAsync(RouteAdded(1, 2), Cancel)).Outcome);
        var saved = applier.WhenSavedAsync(2);
        await Until(() => worker.Saver.FailedSaves >= 2, "the save was attempted again after failing");

        // Served, but not saved: not to be ACKed.
        Assert.Equal(2, applier.AppliedRevision);
        Assert.Equal(1, applier.SavedRevision);
        Assert.False(saved.IsCompleted);

        File.Delete(DataDir);
        Directory.CreateDirectory(DataDir);
        await saved.WaitAsync(TimeSpan.FromSeconds(30), Cancel);
        Assert.Equal(2, applier.SavedRevision);
        Assert.Equal(2, await RestoredRevisionAsync());
    }

    [Fact]
    public void Journal_is_read_up_to_a_delta_not_chained_on_the_record_before_it()
    {
        using var file = new MemoryStream();
        ConfigJournal.WriteHeader(file);
        foreach (var update in new[] { AcmeSnapshot(revision: 1), RouteAdded(1, 2), RouteAdded(5, 6), RouteAdded(2, 3) })
            file.Write(ConfigJournal.Encode(update));

        var read = ConfigJournal.Read(file.ToArray());

        Assert.Equal([1L, 2L], read.Records.Select(r => r.Revision));
        Assert.Contains("not a delta from 2", read.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Journal_that_starts_with_a_delta_is_unusable()
    {
        using var file = new MemoryStream();
        ConfigJournal.WriteHeader(file);
        file.Write(ConfigJournal.Encode(RouteAdded(1, 2)));

        var read = ConfigJournal.Read(file.ToArray());

        Assert.Empty(read.Records);
        Assert.Contains("not the snapshot a file starts with", read.Problem, StringComparison.Ordinal);
    }

    /// <summary>Applies each update and waits for its save, so that each is a record of its own.</summary>
    private static async Task SaveOneByOneAsync(ConfigApplier applier, params ConfigUpdate[] updates)
    {
        foreach (var update in updates)
        {
            var result = await applier.ApplyAsync(update, Cancel);
            Assert.True(result.Outcome == ApplyOutcome.Applied, result.Reason);
            await applier.WhenSavedAsync(update.Revision).WaitAsync(TimeSpan.FromSeconds(30), Cancel);
        }
    }

    private async Task<long> RestoredRevisionAsync()
    {
        using var worker = new WorkerConfiguration(DataDir);
        return await worker.Applier.RestoreLastKnownGoodAsync(Cancel) ? worker.Applier.AppliedRevision : 0;
    }

    private static string[] RouteNames(ConfigApplier applier) =>
        [.. applier.Runtime!.RouteIndex.Values.Select(r => r.Name).Order(StringComparer.Ordinal)];

    /// <summary>Where each record starts: after the header, each is its checksum and length (4 bytes each) and its payload.</summary>
    private static List<int> RecordOffsets(byte[] bytes)
    {
        var offsets = new List<int>();
        for (var offset = ConfigJournal.HeaderLength; offset < bytes.Length; offset += 8 + BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset + 4)))
            offsets.Add(offset);
        return offsets;
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting until {what}.");
            await Task.Delay(20, Cancel);
        }
    }
}
