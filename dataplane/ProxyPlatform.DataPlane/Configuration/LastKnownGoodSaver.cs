using ProxyPlatform.DataPlane.ConfigStream;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>
/// Saves what the worker applies as <see cref="LastKnownGood"/> off the apply path, so traffic gets a
/// change without waiting for the disk. Updates applied while a save runs are saved together next.
/// A save that fails is retried with backoff, and a revision counts as saved (so may be ACKed) only
/// once a save at or after it succeeded: the control plane hears of what a restart would still serve.
/// </summary>
public sealed class LastKnownGoodSaver(LastKnownGood file, ILogger<LastKnownGoodSaver> logger) : IDisposable
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    /// <summary>Applied and not yet taken by the save loop, in order.</summary>
    private List<ConfigUpdate> _applied = [];
    private Task _saving = Task.CompletedTask;
    private long _savedRevision;
    private long _failedSaves;
    private readonly List<(long Revision, TaskCompletionSource Waiter)> _waiters = [];

    /// <summary>The newest revision saved (or restored): what a restart would serve, and the most the worker ACKs.</summary>
    public long SavedRevision { get { lock (_gate) return _savedRevision; } }

    /// <summary>Saves that failed since the process started, each retried.</summary>
    public long FailedSaves => Interlocked.Read(ref _failedSaves);

    /// <summary>Counts <paramref name="revision"/>, read from the file at start, as saved.</summary>
    public void Restored(long revision)
    {
        lock (_gate)
        {
            _savedRevision = Math.Max(_savedRevision, revision);
            Release();
        }
    }

    /// <summary>Saves <paramref name="update"/>, the update just applied, in the background.</summary>
    public void Save(ConfigUpdate update)
    {
        lock (_gate)
        {
            // A snapshot replaces everything before it.
            if (update.BaseRevision == 0)
                _applied.Clear();
            _applied.Add(update);
            if (_saving.IsCompleted)
                _saving = Task.Run(SaveLoopAsync);
        }
    }

    /// <summary>Completes once a configuration at <paramref name="revision"/> or later is saved; never while saves fail.</summary>
    public Task WhenSavedAsync(long revision)
    {
        lock (_gate)
        {
            if (_savedRevision >= revision)
                return Task.CompletedTask;
            var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((revision, waiter));
            return waiter.Task;
        }
    }

    /// <summary>Stops retrying; a save under way completes.</summary>
    public void Dispose() => _stopping.Cancel();

    private async Task SaveLoopAsync()
    {
        var backoff = new ReconnectBackoff(FirstRetry, LongestRetry);
        var failures = 0;
        // Taken from _applied and not yet saved; kept across failed attempts.
        List<ConfigUpdate> batch = [];
        while (true)
        {
            lock (_gate)
            {
                if (_applied.Count == 0 && batch.Count == 0)
                {
                    // Leaving under the lock: Save sees this task as running until it returns,
                    // so it starts a new loop only after this point.
                    _saving = Task.CompletedTask;
                    return;
                }
                if (_applied.Any(u => u.BaseRevision == 0))
                    batch.Clear();
                batch.AddRange(_applied);
                _applied = [];
            }
            try
            {
                // Not cancelled: a write is never cut short on purpose.
                await file.SaveAsync(batch, CancellationToken.None);
            }
            catch (Exception ex)
            {
                Interlocked.Increment(ref _failedSaves);
                if (++failures == 1)
                    logger.LogError(ex, "Could not save revision {Revision} as last-known-good in {Path}; serving it, ACKing up to {Saved} and retrying", batch[^1].Revision, file.FilePath, SavedRevision);
                else
                    logger.LogDebug(ex, "Saving revision {Revision} as last-known-good failed again ({Failures} attempts)", batch[^1].Revision, failures);
                // A long outage keeps one update per changed resource, not every change.
                if (batch.Count > 1 && UpdateBatch.Merge(batch) is { } merged)
                    batch = [merged];
                try
                {
                    await Task.Delay(backoff.Next(), _stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }

            if (failures > 0)
                logger.LogInformation("Saved revision {Revision} as last-known-good after {Failures} failed attempts", batch[^1].Revision, failures);
            failures = 0;
            backoff.Reset();
            lock (_gate)
            {
                _savedRevision = Math.Max(_savedRevision, batch[^1].Revision);
                Release();
            }
            batch.Clear();
        }
    }

    /// <summary>Completes the waiters for revisions up to the saved one. Called under the lock.</summary>
    private void Release()
    {
        for (var i = _waiters.Count - 1; i >= 0; i--)
        {
            if (_waiters[i].Revision <= _savedRevision)
            {
                _waiters[i].Waiter.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
    }
}
