using ProxyPlatform.ControlPlane.Hosting;

namespace ProxyPlatform.ControlPlane.DataPlanes;

/// <summary>
/// A pool's live roster, fed by its workers' grains, and the waiters of <c>?wait=</c> writes. The
/// roster is memory only: workers re-announce themselves on every (re)connect and heartbeat.
/// </summary>
public sealed class DataPlanePoolGrain(TimeProvider time, ControlPlaneOptions options) : Grain, IDataPlanePoolGrain
{
    private readonly Dictionary<string, DataPlaneStatus> _workers = [];
    private readonly List<(long Revision, TaskCompletionSource Done)> _waiters = [];
    /// <summary>
    /// The most <c>?wait=</c> writes that wait at once; beyond, a write's rollout is answered as it stands
    /// (pending), as a timeout would: the write is committed by then, so it is not refused.
    /// </summary>
    public const int MaxWaiters = 10_000;
    // Every connected worker reports within a silence period (its heartbeat), so only then is the roster whole.
    private readonly DateTimeOffset _activated = time.GetUtcNow();

    private string Pool => this.GetPrimaryKeyString();

    public Task Report(DataPlaneStatus status)
    {
        _workers[status.Worker] = status;
        for (var i = _waiters.Count - 1; i >= 0; i--)
        {
            if (Current(_waiters[i].Revision).Complete)
            {
                _waiters[i].Done.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
        return Task.CompletedTask;
    }

    public Task<Rollout> GetRollout(long revision) => Task.FromResult(Current(revision));

    public Task<long?> GetAppliedHorizon(long latest)
    {
        if (time.GetUtcNow() - _activated < options.WorkerSilence)
            return Task.FromResult<long?>(null);
        var connected = Current(latest).Workers.Where(w => w.Connected).ToList();
        return Task.FromResult<long?>(connected.Count == 0 ? latest : Math.Min(latest, connected.Min(w => w.AppliedRevision)));
    }

    public async Task<Rollout> WaitForRollout(long revision, TimeSpan timeout)
    {
        var rollout = Current(revision);
        if (rollout.Complete || _waiters.Count >= MaxWaiters)
            return rollout;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters.Add((revision, done));
        try
        {
            await done.Task.WaitAsync(timeout, time);
        }
        catch (TimeoutException)
        {
            _waiters.RemoveAll(w => w.Done == done);
        }
        return Current(revision);
    }

    private Rollout Current(long revision)
    {
        var now = time.GetUtcNow();
        // Workers gone past the expiry leave the roster, as their records leave the directory.
        foreach (var gone in _workers.Values.Where(w => !w.Connected && now - (w.LastSeen ?? w.ConnectedSince ?? now) >= options.WorkerExpiry).ToList())
            _workers.Remove(gone.Worker);
        var workers = _workers.Values
            .Select(w => w.Connected && (w.LastSeen is not { } seen || now - seen >= options.WorkerSilence) ? w with { Connected = false } : w)
            .OrderBy(w => w.Worker, StringComparer.Ordinal)
            .ToList();
        return new Rollout(Pool, revision, workers);
    }
}
