using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>
/// The last configuration this worker applied, kept in <c>&lt;DataDir&gt;/last-known-good</c> so that a
/// restart serves it at once even when the control plane is unreachable. The file is a
/// <see cref="ConfigJournal"/>: the configuration as one snapshot record, then each saved change
/// appended as a delta record and flushed to disk, so saving a change costs what the change costs.
/// Once the deltas have grown the whole configuration is rewritten into a new file (temporary file,
/// fsync, rename, directory fsync), and the file it replaces is kept as
/// <c>last-known-good.prev</c>, the fallback when the current file is unusable.
/// One caller at a time: the worker restores once at start, then <see cref="LastKnownGoodSaver"/> saves.
/// Certificates' private keys are sealed in the file when <c>DataPlane:SecretsKey</c> is set (<see cref="LastKnownGoodSecrets"/>).
/// </summary>
public sealed class LastKnownGood(DataPlaneOptions options, ILogger<LastKnownGood> logger, Secrets.SecretKeyRing? secrets = null)
{
    private readonly LastKnownGoodSecrets _secrets = new(secrets, logger);

    public const string FileName = "last-known-good";
    public const string PreviousFileName = "last-known-good.prev";
    /// <summary>Past this many deltas or bytes of them the whole configuration is rewritten.</summary>
    private const int MaxDeltas = 1000;
    private const long MaxDeltaBytes = 4 * 1024 * 1024;

    // The records of the current file, so that a rewrite needs no read and no mapping of its own.
    private ConfigUpdate? _snapshot;
    private readonly List<ConfigUpdate> _deltas = [];
    private long _deltaBytes;
    /// <summary>True when the current file ends with the records above: a delta may be appended to it.</summary>
    private bool _appendable;
    /// <summary>False when the current file is unusable: a rewrite then keeps the previous file as the fallback.</summary>
    private bool _currentUsable = true;

    public string FilePath { get; } = Path.Combine(options.DataDir, FileName);
    public string PreviousPath { get; } = Path.Combine(options.DataDir, PreviousFileName);

    /// <summary>The revision of the last record saved or read, 0 when none.</summary>
    public long Revision => _deltas.Count > 0 ? _deltas[^1].Revision : _snapshot?.Revision ?? 0;

    /// <summary>
    /// The saved configuration as one snapshot update, or null when there is none to serve. A file is
    /// read up to its first torn or corrupt record; when the current file is unusable from its first
    /// record, the previous file is read instead. What was skipped is logged. Never throws for a bad file.
    /// </summary>
    public async Task<ConfigUpdate?> LoadAsync(CancellationToken cancellationToken)
    {
        DeleteLeftoverTemporaryFiles();
        var current = await ReadAsync(FilePath, cancellationToken);
        if (current is { Records.Count: > 0 })
        {
            if (current.Problem is not null)
                logger.LogWarning("Serving revision {Revision} from {Path}; the rest of the file ({Bytes} bytes) is skipped: {Problem}",
                    current.Records[^1].Revision, FilePath, current.Skipped, current.Problem);
            return Restore(current.Records, fromCurrent: true, appendable: current.Problem is null);
        }

        _currentUsable = false;
        if (current is not null)
            logger.LogWarning("Ignoring {Path}: {Problem}", FilePath, current.Problem);
        var previous = await ReadAsync(PreviousPath, cancellationToken);
        if (previous is { Records.Count: > 0 })
        {
            logger.LogWarning("Serving revision {Revision} from the previous last-known-good file {Path}{Skipped}",
                previous.Records[^1].Revision, PreviousPath, previous.Problem is null ? "" : $"; the rest of it ({previous.Skipped} bytes) is skipped: {previous.Problem}");
            return Restore(previous.Records, fromCurrent: false, appendable: false);
        }
        if (previous is not null)
            logger.LogWarning("Ignoring {Path}: {Problem}", PreviousPath, previous.Problem);
        if (current is not null || previous is not null)
            logger.LogWarning("No usable last-known-good configuration in {Directory}: starting without configuration", options.DataDir);
        return null;
    }

    /// <summary>
    /// Saves <paramref name="updates"/>, the updates applied since the last successful save, in order:
    /// appended as one delta when they continue the current file, else the whole configuration is
    /// rewritten. After a failure the next save rewrites, so the file never holds a gap or a torn record
    /// before a good one.
    /// </summary>
    /// <exception cref="IOException">The file could not be written; nothing is counted as saved.</exception>
    public async Task SaveAsync(IReadOnlyList<ConfigUpdate> updates, CancellationToken cancellationToken)
    {
        var startsOver = updates.Any(u => u.BaseRevision == 0);
        if (!startsOver && _appendable && updates[0].BaseRevision == Revision && _deltas.Count < MaxDeltas && _deltaBytes < MaxDeltaBytes)
        {
            var delta = UpdateBatch.Merge(updates) ?? throw new InvalidOperationException("The updates to save are not a chain of deltas.");
            _appendable = false;
            var length = await AppendAsync(delta, cancellationToken);
            _appendable = true;
            _deltas.Add(delta);
            _deltaBytes += length;
            return;
        }

        List<ConfigUpdate> chain = startsOver || _snapshot is null ? [.. updates] : [_snapshot, .. _deltas, .. updates];
        var snapshot = UpdateBatch.Merge(chain) is { BaseRevision: 0 } merged
            ? merged
            : throw new InvalidOperationException($"Revision {updates[^1].Revision} cannot be saved: it does not follow a saved snapshot (saved revision {Revision}).");
        _appendable = false;
        await RewriteAsync(snapshot, cancellationToken);
        (_snapshot, _deltaBytes, _appendable, _currentUsable) = (snapshot, 0, true, true);
        _deltas.Clear();
    }

    private ConfigUpdate Restore(IReadOnlyList<ConfigUpdate> records, bool fromCurrent, bool appendable)
    {
        _snapshot = records[0];
        _deltas.Clear();
        _deltas.AddRange(records.Skip(1));
        _deltaBytes = _deltas.Sum(d => (long)d.CalculateSize());
        (_appendable, _currentUsable) = (appendable, fromCurrent);
        return UpdateBatch.Merge(records)!;
    }

    private async Task<int> AppendAsync(ConfigUpdate delta, CancellationToken cancellationToken)
    {
        var record = ConfigJournal.Encode(_secrets.Seal(delta));
        await using var stream = new FileStream(FilePath, new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read, Options = FileOptions.Asynchronous });
        await stream.WriteAsync(record, cancellationToken);
        stream.Flush(flushToDisk: true);
        return record.Length;
    }

    /// <summary>Writes <paramref name="snapshot"/> as a new file that replaces the current one atomically, keeping that as the previous file.</summary>
    private async Task RewriteAsync(ConfigUpdate snapshot, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(options.DataDir);
        var temporary = Path.Combine(options.DataDir, $".{FileName}.{Guid.NewGuid():N}.tmp");
        try
        {
            var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, Options = FileOptions.Asynchronous };
            // It will carry secrets (private keys): readable by the worker's user only.
            if (!OperatingSystem.IsWindows())
                create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            await using (var stream = new FileStream(temporary, create))
            {
                ConfigJournal.WriteHeader(stream);
                await stream.WriteAsync(ConfigJournal.Encode(_secrets.Seal(snapshot)), cancellationToken);
                stream.Flush(flushToDisk: true);
            }
            // A crash between the two renames leaves no current file: restoring then reads the previous one.
            if (_currentUsable && File.Exists(FilePath))
                File.Move(FilePath, PreviousPath, overwrite: true);
            File.Move(temporary, FilePath, overwrite: true);
            DirectorySync.Flush(options.DataDir);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private async Task<FileRead?> ReadAsync(string path, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(path, cancellationToken);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new FileRead([], 0, $"the file could not be read: {ex.Message}");
        }
        var read = ConfigJournal.Read(bytes);
        return new FileRead(_secrets.Open(read.Records, path), bytes.Length - read.ValidBytes, read.Problem);
    }

    /// <summary>Temporary files of rewrites that a crash cut short.</summary>
    private void DeleteLeftoverTemporaryFiles()
    {
        if (!Directory.Exists(options.DataDir))
            return;
        try
        {
            foreach (var leftover in Directory.EnumerateFiles(options.DataDir, $".{FileName}.*.tmp"))
                File.Delete(leftover);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogDebug(ex, "Could not delete leftover temporary files in {Directory}", options.DataDir);
        }
    }

    private sealed record FileRead(IReadOnlyList<ConfigUpdate> Records, long Skipped, string? Problem);
}
