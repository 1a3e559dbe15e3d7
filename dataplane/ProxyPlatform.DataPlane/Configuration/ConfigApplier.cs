using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Configuration;

public enum ApplyOutcome
{
    /// <summary>The update is served now and saved as last-known-good: ACK it.</summary>
    Applied,
    /// <summary>The update cannot be served; the previous configuration still is: NACK it.</summary>
    Rejected,
    /// <summary>A delta from a revision other than the applied one: resynchronise the stream.</summary>
    OutOfSequence,
}

/// <summary>What became of one update.</summary>
public sealed record ApplyResult(ApplyOutcome Outcome, long Revision, string? Reason = null);

/// <summary>
/// The configuration this worker serves, and the one way to change it: an update is turned into a
/// new snapshot, validated and compiled (only what it changes), swapped in, and saved as
/// last-known-good in the background; or rejected while the previous configuration keeps serving.
/// </summary>
public sealed class ConfigApplier(SnapshotCompiler compiler, LastKnownGood lastKnownGood, ConfigStream.ConfigStreamStats stats, ILogger<ConfigApplier> logger)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _saveLock = new();
    private volatile ConfigSnapshot? _current;
    private volatile ProxyRuntime? _runtime;
    private ConfigSnapshot? _unsaved;
    /// <summary>The deltas applied since the last save, in order; null when a full save is due (a snapshot was applied).</summary>
    private List<ConfigUpdate>? _unsavedDeltas = [];
    private Task _saving = Task.CompletedTask;
    private long _savedRevision;
    /// <summary>The revision of the last whole file written, and of the last save (file or journal); 0 before the first. Used by the save loop only.</summary>
    private long _fileRevision, _journalRevision;
    private readonly List<(long Revision, TaskCompletionSource Waiter)> _saveWaiters = [];

    /// <summary>The snapshot being served, or null while no configuration has ever been applied.</summary>
    public ConfigSnapshot? Current => _current;

    /// <summary>The routing table and clusters being served, or null while no configuration has ever been applied.</summary>
    public ProxyRuntime? Runtime => _runtime;

    /// <summary>The revision being served, 0 when none.</summary>
    public long AppliedRevision => _current?.Revision ?? 0;

    public async Task<ApplyResult> ApplyAsync(ConfigUpdate update, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return ApplyLocked(update, restoring: false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Serves the saved last-known-good configuration if there is one and it is still valid.
    /// Never throws for a missing, unreadable or invalid file: the worker then starts empty.
    /// </summary>
    public async Task<bool> RestoreLastKnownGoodAsync(CancellationToken cancellationToken = default)
    {
        ConfigUpdate? saved;
        try
        {
            saved = await lastKnownGood.LoadAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning("Ignoring the last-known-good configuration at {Path}: {Error}", lastKnownGood.FilePath, ex.Message);
            return false;
        }
        if (saved is null)
            return false;

        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_current is not null)
                return false;
            var result = ApplyLocked(saved, restoring: true);
            if (result.Outcome != ApplyOutcome.Applied)
            {
                logger.LogWarning("Ignoring the last-known-good configuration at {Path}: {Reason}", lastKnownGood.FilePath, result.Reason);
                return false;
            }
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Completes once the newest applied configuration is saved as last-known-good.</summary>
    public Task WhenSavedAsync() => WhenSavedAsync(AppliedRevision);

    /// <summary>
    /// Completes once a configuration at <paramref name="revision"/> or later is saved as
    /// last-known-good (or its save failed and was logged): a worker ACKs only what a restart
    /// without the control plane would still serve.
    /// </summary>
    public Task WhenSavedAsync(long revision)
    {
        lock (_saveLock)
        {
            if (_savedRevision >= revision || (_unsaved is null && _saving.IsCompleted))
                return Task.CompletedTask;
            var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _saveWaiters.Add((revision, waiter));
            return waiter.Task;
        }
    }

    private ApplyResult ApplyLocked(ConfigUpdate update, bool restoring)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var current = _current ?? ConfigSnapshot.Empty;
        if (!current.Precedes(update))
            return new ApplyResult(ApplyOutcome.OutOfSequence, update.Revision,
                $"revision {update.Revision} applies on top of {update.BaseRevision}, but this worker serves {(_current is null ? "nothing" : _current.Revision)}.");

        if (!current.TryApply(update, out var next, out var rejection))
            return Rejected(update, rejection);
        SnapshotCompilation compilation;
        try
        {
            compilation = compiler.Compile(_runtime ?? ProxyRuntime.Empty, next, update);
        }
        catch (Exception ex)
        {
            // Whatever a configuration holds, it must not take the worker down: reject it instead.
            logger.LogError(ex, "Compiling revision {Revision} failed", update.Revision);
            return Rejected(update, $"the configuration could not be compiled: {ex.Message}");
        }
        if (!compilation.IsValid)
            return Rejected(update, compilation.Rejection!);

        var compiled = System.Diagnostics.Stopwatch.GetTimestamp();
        var change = compilation.Update!;
        compiler.Commit(change);
        _runtime = change.Runtime;
        _current = next;
        if (change.RouteChanges > 0)
            stats.RouteTableRebuilt();
        var swapped = System.Diagnostics.Stopwatch.GetTimestamp();
        if (restoring)
        {
            lock (_saveLock)
                _savedRevision = Math.Max(_savedRevision, next.Revision);
        }
        else
        {
            ScheduleSave(next, update);
        }

        // Snapshots and restores are rare and worth a line; a busy pool sends deltas by the hundred
        // per second, and the control plane already shows each worker's applied revision.
        var level = restoring || update.BaseRevision == 0 ? LogLevel.Information : LogLevel.Debug;
        if (logger.IsEnabled(level))
        {
            logger.Log(level,
                "Applied revision {Revision} ({Source}): {Tenants} tenants, {Clusters} clusters, {Routes} routes ({RouteChanges} route changes); compile {CompileMs:0.00} ms, swap {SwapMs:0.00} ms",
                next.Revision, restoring ? $"last-known-good from {lastKnownGood.FilePath}" : update.BaseRevision == 0 ? "snapshot" : $"delta from {update.BaseRevision}",
                next.Tenants.Count, next.Clusters.Count, next.Routes.Count, change.RouteChanges,
                System.Diagnostics.Stopwatch.GetElapsedTime(started, compiled).TotalMilliseconds,
                System.Diagnostics.Stopwatch.GetElapsedTime(compiled, swapped).TotalMilliseconds);
        }
        return new ApplyResult(ApplyOutcome.Applied, next.Revision);
    }

    /// <summary>
    /// Saves <paramref name="snapshot"/> off the apply path, so traffic gets a change without
    /// waiting for the disk. What is applied while a save runs is saved next, newest only.
    /// </summary>
    private void ScheduleSave(ConfigSnapshot snapshot, ConfigUpdate update)
    {
        lock (_saveLock)
        {
            _unsaved = snapshot;
            if (update.BaseRevision == 0 || _unsavedDeltas is null)
                _unsavedDeltas = null;
            else
                _unsavedDeltas.Add(update);
            if (_saving.IsCompleted)
                _saving = Task.Run(SaveLoopAsync);
        }
    }

    private async Task SaveLoopAsync()
    {
        while (true)
        {
            ConfigSnapshot? snapshot;
            List<ConfigUpdate>? deltas;
            lock (_saveLock)
            {
                snapshot = _unsaved;
                deltas = _unsavedDeltas;
                _unsaved = null;
                _unsavedDeltas = [];
                if (snapshot is null)
                {
                    // Leaving under the lock: ScheduleSave sees this task as running until it returns,
                    // so it replaces _saving only after this point.
                    _saving = Task.CompletedTask;
                    Release(long.MaxValue);
                    return;
                }
            }
            try
            {
                // A change is appended to the journal; a snapshot, a full journal or a broken chain write the whole file.
                if (deltas is { Count: > 0 } && !lastKnownGood.JournalIsFull && _fileRevision > 0
                    && deltas[0].BaseRevision == _journalRevision && UpdateBatch.Merge(deltas) is { } merged)
                {
                    await lastKnownGood.AppendAsync(merged, CancellationToken.None);
                }
                else
                {
                    await lastKnownGood.SaveAsync(snapshot, CancellationToken.None);
                    _fileRevision = snapshot.Revision;
                }
                _journalRevision = snapshot.Revision;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The next save writes the whole file, so the journal never has a gap.
                _fileRevision = 0;
                logger.LogError(ex, "Could not save the last-known-good configuration to {Path}", lastKnownGood.FilePath);
            }
            lock (_saveLock)
            {
                _savedRevision = Math.Max(_savedRevision, snapshot.Revision);
                Release(_savedRevision);
            }
        }
    }

    /// <summary>Completes the waiters for revisions up to <paramref name="revision"/>. Called under the save lock.</summary>
    private void Release(long revision)
    {
        for (var i = _saveWaiters.Count - 1; i >= 0; i--)
        {
            if (_saveWaiters[i].Revision <= revision)
            {
                _saveWaiters[i].Waiter.TrySetResult();
                _saveWaiters.RemoveAt(i);
            }
        }
    }

    private ApplyResult Rejected(ConfigUpdate update, string reason)
    {
        logger.LogWarning("Rejected revision {Revision}, still serving {Applied}: {Reason}", update.Revision, AppliedRevision, reason);
        return new ApplyResult(ApplyOutcome.Rejected, update.Revision, reason);
    }
}
