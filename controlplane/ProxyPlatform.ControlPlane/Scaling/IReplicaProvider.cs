namespace ProxyPlatform.ControlPlane.Scaling;

/// <summary>The state of one worker a provider manages, as the pool's GET shows it.</summary>
public static class ReplicaStates
{
    public const string Starting = WorkerStates.Starting;
    public const string Ready = WorkerStates.Ready;
    public const string Draining = WorkerStates.Draining;
    public const string Stale = WorkerStates.Stale;
    public const string Gone = WorkerStates.Gone;
}

/// <summary>One worker (or pod) as its provider sees it.</summary>
/// <param name="Id">The worker's ID: <c>&lt;pool&gt;-&lt;slot&gt;</c> for the process provider, the pod's name for Kubernetes.</param>
/// <param name="State">One of <see cref="ReplicaStates"/>, as far as the provider can tell (readiness of the process or pod).</param>
/// <param name="ProxyUrl">Where it takes traffic, when the provider knows.</param>
/// <param name="OpsUrl">Its ops listener (<c>/healthz</c>, <c>/readyz</c>), when the provider knows.</param>
public sealed record ReplicaInstance(string Id, string State, string? ProxyUrl = null, string? OpsUrl = null);

/// <summary>What a provider observes of one pool right now.</summary>
/// <param name="Actual">Workers that exist for the pool (started and not yet gone, draining ones included).</param>
/// <param name="Ready">Of those, how many the provider counts as ready (process: <c>/readyz</c> 200 and not draining; Kubernetes: <c>status.readyReplicas</c>).</param>
/// <param name="Instances">Each worker, when the provider can list them (Kubernetes: may be empty, as it reports counts only).</param>
public sealed record ReplicaObservation(int Actual, int Ready, IReadOnlyList<ReplicaInstance> Instances)
{
    public static readonly ReplicaObservation None = new(0, 0, []);
}

/// <summary>
/// Makes a pool's desired number of workers so (<c>Scaling:Provider</c>: Process, Kubernetes or None).
/// The pool's reconciler (<c>IPoolReconcilerGrain</c>, one activation per pool across the cluster)
/// calls <see cref="EnsureAsync"/> about once a second while the pool has <c>replicas</c>; every call is
/// idempotent, so a reconciler that moved to another silo simply carries on.
/// </summary>
public interface IReplicaProvider
{
    /// <summary><c>Process</c>, <c>Kubernetes</c> or <c>None</c>: shown on the pool's GET.</summary>
    string Name { get; }

    /// <summary>
    /// The most replicas a pool may ask for with this provider (process: <c>Scaling:Process:MaxReplicas</c>,
    /// default 32, per machine); a pool body above it is refused (409 naming <c>replicas</c>).
    /// </summary>
    int MaxReplicas { get; }

    /// <summary>
    /// One step towards <paramref name="desired"/> workers for <paramref name="pool"/>: start what is missing,
    /// restart what died (with backoff), begin draining what is surplus. Returns quickly (no waiting for a
    /// worker to become ready) with what it observes after acting. Never throws for a condition the next
    /// call may cure (a busy API server, a port in use): it logs and returns what it sees.
    /// </summary>
    Task<ReplicaObservation> EnsureAsync(string pool, int desired, CancellationToken cancellationToken);

    /// <summary>What the provider sees of the pool, changing nothing.</summary>
    Task<ReplicaObservation> ObserveAsync(string pool, CancellationToken cancellationToken);

    /// <summary>
    /// Drains one worker and then stops it (used for scale-down and by an operator). False when the provider
    /// cannot choose the worker to remove (Kubernetes picks the pod; it drains on SIGTERM with a preStop delay).
    /// </summary>
    Task<bool> DrainAsync(string pool, string worker, CancellationToken cancellationToken);

    /// <summary>
    /// The pool is no longer managed (its <c>replicas</c> unset, or the pool deleted): forget it, leaving
    /// running workers alone (process) or the Deployment as it is (Kubernetes).
    /// </summary>
    Task ReleaseAsync(string pool, CancellationToken cancellationToken);
}
