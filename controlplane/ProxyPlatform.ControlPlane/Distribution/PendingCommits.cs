namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>One change waiting for the commit that will write it, and the caller waiting for its revision.</summary>
public sealed record PendingCommit(IReadOnlyList<ConfigEntry> Entries)
{
    /// <summary>What the change holds in memory while it waits: the JSON of its entries.</summary>
    public long Bytes { get; } = Entries.Sum(e => (long)(e.Json?.Length ?? 0) + (e.Meta?.Length ?? 0));

    public TaskCompletionSource<long> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// When the caller stops waiting (a <see cref="TimeProvider"/> timestamp): the grain call that brought
    /// the change times out soon after, and its caller is answered 503 "nothing was acknowledged". A change
    /// still queued then is dropped, and a commit still running then is cancelled, so that it never lands
    /// after all.
    /// </summary>
    public long Deadline { get; init; } = long.MaxValue;

    /// <summary>Who made the change, captured when it was enqueued (the batch is written in another caller's context); null: a system change, not audited.</summary>
    public ChangeAuthor? Author { get; init; }
}

/// <summary>
/// The changes a pool's distribution grain has accepted while a commit is being written, in order,
/// bounded in count and in bytes: past either bound a change is refused (<see cref="AdminErrorKind.Busy"/>,
/// 503 / ResourceExhausted) and nothing is changed, rather than callers' changes piling up without bound.
/// </summary>
public sealed class PendingCommits(int maxCount, long maxBytes)
{
    /// <summary>A commit takes about a millisecond per batch of up to 512: this is seconds of queued work.</summary>
    public const int DefaultMaxCount = 10_000;
    public const long DefaultMaxBytes = 64L * 1024 * 1024;

    private readonly Queue<PendingCommit> _queue = new();

    public int Count => _queue.Count;

    public long Bytes { get; private set; }

    public void Enqueue(PendingCommit pending, string pool)
    {
        if (_queue.Count >= maxCount || Bytes + pending.Bytes > maxBytes)
            throw AdminException.Busy(
                $"Pool '{pool}' has {_queue.Count} changes ({Bytes / 1024} KiB) waiting to be committed, as many as it holds; nothing was changed, retry shortly.");
        _queue.Enqueue(pending);
        Bytes += pending.Bytes;
    }

    public bool TryDequeue(out PendingCommit pending)
    {
        if (!_queue.TryDequeue(out pending!))
            return false;
        Bytes -= pending.Bytes;
        return true;
    }
}
