using Orleans.Concurrency;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane;

/// <summary>A worker's stream as its node announces it, with the ID of the credential it was opened with.</summary>
[GenerateSerializer, Immutable, Alias("pp.WorkerConnection")]
public sealed record WorkerConnection(
    [property: Id(0)] string Pool,
    [property: Id(1)] string Node,
    [property: Id(2)] string Instance,
    [property: Id(3)] long AppliedRevision,
    [property: Id(4)] DateTimeOffset ConnectedAt,
    [property: Id(5)] string Credential);

[GenerateSerializer, Immutable, Alias("pp.Rejection")]
public sealed record Rejection([property: Id(0)] long Revision, [property: Id(1)] string Reason, [property: Id(2)] DateTimeOffset At);

/// <summary>One resource a worker does not serve as the control plane sent it (it serves its last good version, or none): the version it refused, and why.</summary>
[GenerateSerializer, Immutable, Alias("pp.ResourceRejection")]
public sealed record ResourceRejection(
    [property: Id(0)] ProxyPlatform.Resources.ResourceKey Resource,
    [property: Id(1)] long Revision,
    [property: Id(2)] string Reason);

/// <summary>What the control plane knows of one worker.</summary>
[GenerateSerializer, Immutable, Alias("pp.DataPlaneStatus")]
public sealed record DataPlaneStatus(
    [property: Id(0)] string Worker,
    [property: Id(1)] string Pool,
    [property: Id(2)] string? Node,
    [property: Id(3)] bool Connected,
    [property: Id(4)] DateTimeOffset? ConnectedSince,
    [property: Id(5)] DateTimeOffset? LastSeen,
    [property: Id(6)] long AppliedRevision,
    [property: Id(7)] Rejection? LastNack,
    [property: Id(8)] IReadOnlyList<ResourceRejection> Rejected,
    [property: Id(9)] int RejectedOmitted)
{
    /// <summary>Its state, lag and convergence as its pool measures them; null where the pool has not assessed it.</summary>
    [Id(10)] public WorkerProgress? Progress { get; init; }
    /// <summary>Where the worker says it takes traffic, once it has said so.</summary>
    [Id(11)] public string? ProxyUrl { get; init; }
    /// <summary>Its ops listener (<c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>).</summary>
    [Id(12)] public string? OpsUrl { get; init; }
    /// <summary><c>draining</c> once the worker drains, <c>gone</c> once it has said it is leaving; null while it serves.</summary>
    [Id(13)] public string? Drain { get; init; }

    /// <summary>True when the worker serves <paramref name="revision"/>: it has applied it and not rejected what was written at it.</summary>
    public bool HasApplied(long revision) => AppliedRevision >= revision && !Rejected.Any(r => r.Revision == revision);
}

/// <summary>Which workers of a pool have applied a revision.</summary>
[GenerateSerializer, Immutable, Alias("pp.Rollout")]
public sealed record Rollout(
    [property: Id(0)] string Pool,
    [property: Id(1)] long Revision,
    [property: Id(2)] IReadOnlyList<DataPlaneStatus> Workers)
{
    public IEnumerable<DataPlaneStatus> Pending => Workers.Where(w => w.Connected && !w.HasApplied(Revision));
    public bool Complete => !Pending.Any();
    /// <summary>When the revision was committed, if the pool still remembers it (the last hour).</summary>
    [Id(3)] public DateTimeOffset? CommittedAt { get; init; }
    /// <summary>Per worker, how many milliseconds after the commit it acknowledged the revision (the workers that did, while the pool remembers it).</summary>
    [Id(4)] public IReadOnlyDictionary<string, double>? AppliedAfterMs { get; init; }
}

/// <summary>The states of a worker entry (DESIGN.md, "Worker entries").</summary>
public static class WorkerStates
{
    /// <summary>Connected, and has not yet caught up with its pool since it connected.</summary>
    public const string Starting = "starting";
    /// <summary>Connected, caught up, and its lag within the pool's bound.</summary>
    public const string Ready = "ready";
    /// <summary>Told to leave, finishing what it has in flight.</summary>
    public const string Draining = "draining";
    /// <summary>Connected, but its lag exceeds <c>DataPlanes:StaleAfterSeconds</c> or <c>DataPlanes:StaleAfterRevisions</c>.</summary>
    public const string Stale = "stale";
    /// <summary>Not connected (its record is kept until <c>DataPlanes:ExpireAfter</c>).</summary>
    public const string Gone = "gone";
}

/// <summary>
/// How a worker keeps up with its pool: its <see cref="WorkerStates">state</see>, its lag (the pool's
/// revisions it has not applied, and how long ago the oldest of them was committed), and the median and
/// 99th percentile of how long after their commit it applied the pool's revisions in the last hour
/// (null before it has applied any).
/// </summary>
[GenerateSerializer, Immutable, Alias("pp.WorkerProgress")]
public sealed record WorkerProgress(
    [property: Id(0)] string State,
    [property: Id(1)] long LagRevisions,
    [property: Id(2)] double LagSeconds,
    [property: Id(3)] double? ConvergenceP50Ms,
    [property: Id(4)] double? ConvergenceP99Ms);

/// <summary>One data-plane worker: its pool, node, applied revision and last NACK. Key: worker ID.</summary>
public interface IDataPlaneGrain : IGrainWithStringKey
{
    /// <summary>
    /// Takes the worker's new stream; fails with <see cref="AdminErrorKind.Conflict"/> while the worker ID
    /// is held by a live stream opened with another credential.
    /// </summary>
    Task Connected(WorkerConnection connection);
    Task Applied(string instance, long revision);
    /// <summary>
    /// An ACK: the worker applied <paramref name="revision"/>, and <paramref name="rejected"/> is every
    /// resource it does not serve as sent (the complete set, replacing the one before), with
    /// <paramref name="omitted"/> more that the worker did not list.
    /// </summary>
    Task Acked(string instance, long revision, IReadOnlyList<ResourceRejection> rejected, int omitted);
    Task Rejected(string instance, long revision, string reason);
    Task Heartbeat(string instance, long appliedRevision);
    /// <summary>Where the worker serves and whether it drains (<c>draining</c>) or leaves (<c>gone</c>); null: it serves.</summary>
    Task Status(string instance, string? proxyUrl, string? opsUrl, string? drain);
    Task Disconnected(string instance);
    /// <summary>The worker's record, or null when it has none or has been absent past the expiry.</summary>
    Task<DataPlaneStatus?> Get();
    /// <summary>
    /// The node that holds the worker's stream for <paramref name="instance"/> (this run of it) says where
    /// questions for the worker go; held in memory until the stream ends.
    /// </summary>
    Task Attach(string instance, IWorkerStreams node);
    /// <summary>Where the worker's live stream is held; null when it has none (not connected, or not since this grain's activation).</summary>
    Task<WorkerStreamRef?> GetStream();
    /// <summary>Deletes the record of a worker absent past the expiry (<c>DataPlanes:ExpireAfter</c>); true if it did.</summary>
    Task<bool> Expire();
}

/// <summary>
/// The live roster of a data-plane pool: which workers are connected and what each has applied,
/// so a write can wait until its revision is live everywhere. Key: pool ID.
/// </summary>
/// <remarks>
/// The grain also owns the pool as a resource (its <see cref="PoolSpec"/>, committed through the pool's
/// distribution grain). The <c>default</c> pool always exists, with no limits until one is set.
/// </remarks>
public interface IDataPlanePoolGrain : IGrainWithStringKey
{
    Task<PoolResource?> Get();
    Task<bool> Exists();
    Task<WriteResult<PoolResource>> Put(PoolSpec spec, string? ifMatch);
    /// <summary>
    /// Applies a JSON merge patch (RFC 7396) to the pool's body, so only the fields it names change
    /// (<c>ppctl scale</c> and the autoscaler never overwrite <c>limits</c>); the result is validated as a PUT's body.
    /// </summary>
    Task<WriteResult<PoolResource>> Patch(string mergePatch, string? ifMatch);
    Task<long> Delete(string? ifMatch);

    [OneWay]
    Task Report(DataPlaneStatus status);
    /// <summary>The revisions of the pool were committed at <paramref name="at"/>: the start of their convergence, and of the lag of whoever lacks them.</summary>
    [OneWay]
    Task Committed(long[] revisions, DateTimeOffset at);
    /// <summary>The workers with their <see cref="DataPlaneStatus.Progress"/> as this pool measures it.</summary>
    Task<IReadOnlyList<DataPlaneStatus>> Assess(IReadOnlyList<DataPlaneStatus> workers);
    /// <summary>Which workers have applied <paramref name="revision"/>, each with its progress, and when each applied it.</summary>
    Task<Rollout> GetRollout(long revision);
    /// <summary>
    /// The lowest revision the pool's connected workers have applied, <paramref name="latest"/> when none is
    /// connected, or null while the roster may still be missing workers (it is memory only, and refills from
    /// the workers' heartbeats): what the pool's tombstones may be pruned up to.
    /// </summary>
    Task<long?> GetAppliedHorizon(long latest);
    /// <summary>Completes when every connected worker has applied <paramref name="revision"/>, or at the timeout.</summary>
    [AlwaysInterleave]
    Task<Rollout> WaitForRollout(long revision, TimeSpan timeout);
}

/// <summary>
/// Keeps one pool's workers at its desired <c>replicas</c> through the replica provider: one activation per
/// pool in the cluster, woken by the pool's writes and by every silo every few seconds, so that it comes
/// back on another silo when its own is lost. Key: pool ID.
/// </summary>
public interface IPoolReconcilerGrain : IGrainWithStringKey
{
    /// <summary>Makes sure the reconciler runs; it stops by itself once the pool has no replicas.</summary>
    [OneWay]
    Task Wake();

    /// <summary>Runs a pass now rather than at the next tick (after a write of the pool's replicas), and keeps running.</summary>
    [OneWay]
    Task ReconcileNow();
}
