using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Scaling;

/// <summary>One worker of a pool as the pool's GET shows it: what it reported and what its provider sees, in one state.</summary>
public sealed record PoolWorkerEntry(
    string Id, string? Node, string? ProxyUrl, string? OpsUrl, long AppliedRevision, long LagRevisions, string State, bool Connected);

/// <summary>
/// A pool's desired and actual replicas: the provider's view joined with the pool's roster. A worker is
/// ready when its stream is live, it has applied the pool's latest revision, it is not draining and its
/// provider counts it ready (DESIGN: Details, Pools).
/// </summary>
public sealed record PoolReplicas(string Provider, int? Desired, int Actual, int Ready, int Drift, IReadOnlyList<PoolWorkerEntry> Workers)
{
    /// <summary>Lag is counted up to this many of the pool's revisions.</summary>
    public const int MaxLag = 1000;

    public static async Task<PoolReplicas> ObserveAsync(string pool, int? desired, IReadOnlyList<DataPlaneStatus> roster, IReplicaProvider provider, ConfigStore store)
    {
        var seen = desired is null && provider is not NoReplicaProvider ? ReplicaObservation.None : await provider.ObserveAsync(pool, CancellationToken.None);
        var revisions = roster.Count == 0 ? [] : await store.PoolRevisionsAfterAsync(pool, roster.Min(w => w.AppliedRevision), MaxLag);
        var instances = seen.Instances.ToDictionary(i => i.Id, StringComparer.Ordinal);
        var entries = new List<PoolWorkerEntry>();
        foreach (var worker in roster)
        {
            instances.Remove(worker.Worker, out var instance);
            var lag = worker.Progress?.LagRevisions ?? revisions.Count(r => r > worker.AppliedRevision);
            // The pool's own judgement (stale, ready, gone: DataPlanePoolGrain.ProgressOf, the same as /v1/dataplanes),
            // narrowed by what the provider sees: a process that is draining, or not ready yet.
            // Draining needs a worker that is still there: connected, or a process the provider still runs.
            var state = worker.Drain is { } drain && (drain != ReplicaStates.Draining || worker.Connected || instance is not null) ? drain
                : worker.Drain is not null ? ReplicaStates.Gone
                : instance?.State == ReplicaStates.Draining ? ReplicaStates.Draining
                : worker.Progress is { } progress
                    ? (progress.State == ReplicaStates.Ready && instance?.State is not (null or ReplicaStates.Ready) ? ReplicaStates.Starting : progress.State)
                : worker.Connected && lag == 0 && instance?.State is null or ReplicaStates.Ready ? ReplicaStates.Ready
                : worker.Connected || instance is not null ? ReplicaStates.Starting
                : ReplicaStates.Stale;
            entries.Add(new PoolWorkerEntry(worker.Worker, worker.Node, worker.ProxyUrl ?? instance?.ProxyUrl, worker.OpsUrl ?? instance?.OpsUrl,
                worker.AppliedRevision, lag, state, worker.Connected));
        }
        // Started by the provider and not yet heard from.
        foreach (var instance in instances.Values)
            entries.Add(new PoolWorkerEntry(instance.Id, null, instance.ProxyUrl, instance.OpsUrl, 0, revisions.Count, instance.State == ReplicaStates.Draining ? ReplicaStates.Draining : ReplicaStates.Starting, false));
        entries.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        // Kubernetes lists no pods: its own count of ready replicas is the figure.
        var ready = seen.Instances.Count == 0 && seen.Ready > 0 ? seen.Ready : entries.Count(e => e.State == ReplicaStates.Ready);
        var actual = provider is NoReplicaProvider ? roster.Count(w => w.Connected) : seen.Actual;
        return new PoolReplicas(provider.Name, desired, actual, ready, desired is { } d ? d - actual : 0, entries);
    }
}
