using System.Collections.Immutable;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Configuration;

public enum ApplyOutcome
{
    /// <summary>The update is served now and saved as last-known-good in the background: ACK it once saved.</summary>
    Applied,
    /// <summary>The update cannot be served; the previous configuration still is: NACK it.</summary>
    Rejected,
    /// <summary>A delta from a revision other than the applied one: resynchronise the stream.</summary>
    OutOfSequence,
}

/// <summary>What became of one update; an applied one may have left resources out (<see cref="ConfigApplier.RejectedResources"/>).</summary>
public sealed record ApplyResult(ApplyOutcome Outcome, long Revision, string? Reason = null);

/// <summary>
/// The configuration this worker serves, and the one way to change it: an update is turned into a
/// new snapshot, validated and compiled (only what it changes), swapped in, and saved as
/// last-known-good in the background. A resource that cannot be applied is left out alone: its last
/// good version keeps serving (and is what the last-known-good file keeps), and it is listed in
/// <see cref="RejectedResources"/> until a later version of it applies or it is removed.
/// </summary>
public sealed class ConfigApplier(SnapshotCompiler compiler, LastKnownGood lastKnownGood, LastKnownGoodSaver saver, ConfigStream.ConfigStreamStats stats, ILogger<ConfigApplier> logger)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile ConfigSnapshot? _current;
    private volatile ProxyRuntime? _runtime;
    private ImmutableDictionary<ResourceKey, ResourceRejection> _rejected = ImmutableDictionary<ResourceKey, ResourceRejection>.Empty;

    /// <summary>The snapshot being served, or null while no configuration has ever been applied.</summary>
    public ConfigSnapshot? Current => _current;

    /// <summary>The routing table and clusters being served, or null while no configuration has ever been applied.</summary>
    public ProxyRuntime? Runtime => _runtime;

    /// <summary>The resources this worker does not serve as the control plane last sent them, by key.</summary>
    public ImmutableDictionary<ResourceKey, ResourceRejection> RejectedResources => Volatile.Read(ref _rejected);

    /// <summary>The revision being served, 0 when none.</summary>
    public long AppliedRevision => _current?.Revision ?? 0;

    /// <summary>The newest revision saved as last-known-good: what a restart would serve, and the most this worker ACKs.</summary>
    public long SavedRevision => saver.SavedRevision;

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
        var saved = await lastKnownGood.LoadAsync(cancellationToken);
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
                logger.LogWarning("Ignoring the last-known-good configuration (revision {Revision}) in {Directory}: {Reason}", saved.Revision, Path.GetDirectoryName(lastKnownGood.FilePath), result.Reason);
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
    /// last-known-good; while saves fail it waits for one that succeeds. A worker ACKs only what a
    /// restart without the control plane would still serve.
    /// </summary>
    public Task WhenSavedAsync(long revision) => saver.WhenSavedAsync(revision);

    private ApplyResult ApplyLocked(ConfigUpdate update, bool restoring)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var current = _current ?? ConfigSnapshot.Empty;
        if (!current.Precedes(update))
            return new ApplyResult(ApplyOutcome.OutOfSequence, update.Revision,
                $"revision {update.Revision} applies on top of {update.BaseRevision}, but this worker serves {(_current is null ? "nothing" : _current.Revision)}.");

        var next = current.Apply(update, out var unreadable);
        SnapshotCompilation compilation;
        try
        {
            compilation = compiler.Compile(_runtime ?? ProxyRuntime.Empty, current, next, update, unreadable);
        }
        catch (Exception ex)
        {
            // Whatever a configuration holds, it must not take the worker down: reject it instead.
            logger.LogError(ex, "Compiling revision {Revision} failed", update.Revision);
            return Rejected(update, $"the configuration could not be compiled: {ex.Message}");
        }
        next = compilation.Next;
        var compiled = System.Diagnostics.Stopwatch.GetTimestamp();
        var change = compilation.Update;
        compiler.Commit(change);
        _runtime = change.Runtime;
        _current = next;
        var rejected = Rejections(update, compilation.Rejected, restoring);
        Volatile.Write(ref _rejected, rejected);
        if (change.RouteChanges > 0)
            stats.RouteTableRebuilt();
        var swapped = System.Diagnostics.Stopwatch.GetTimestamp();
        if (restoring)
            saver.Restored(next.Revision);
        else
            saver.Save(AsServed(update, current, compilation.Rejected, rejected));
        foreach (var rejection in compilation.Rejected)
            logger.LogWarning("Revision {Revision}: serving {Resource} as before, without the version of revision {Rejected}: {Reason}", next.Revision, rejection.Key, rejection.Revision, rejection.Reason);

        // Snapshots and restores are rare and worth a line; a busy pool sends deltas by the hundred
        // per second, and the control plane already shows each worker's applied revision.
        var level = restoring || update.BaseRevision == 0 ? LogLevel.Information : LogLevel.Debug;
        if (logger.IsEnabled(level))
        {
            logger.Log(level,
                "Applied revision {Revision} ({Source}): {Tenants} tenants, {Clusters} clusters, {Routes} routes ({RouteChanges} route changes); compile {CompileMs:0.00} ms, swap {SwapMs:0.00} ms",
                next.Revision, restoring ? "last-known-good" : update.BaseRevision == 0 ? "snapshot" : $"delta from {update.BaseRevision}",
                next.Tenants.Count, next.Clusters.Count, next.Routes.Count, change.RouteChanges,
                System.Diagnostics.Stopwatch.GetElapsedTime(started, compiled).TotalMilliseconds,
                System.Diagnostics.Stopwatch.GetElapsedTime(compiled, swapped).TotalMilliseconds);
        }
        return new ApplyResult(ApplyOutcome.Applied, next.Revision);
    }

    /// <summary>
    /// The rejected set after <paramref name="update"/>: a full snapshot's own rejections; after a
    /// delta, the earlier ones it did not send again, and its own. Restoring the last-known-good file
    /// takes the set it was saved with.
    /// </summary>
    private ImmutableDictionary<ResourceKey, ResourceRejection> Rejections(ConfigUpdate update, IReadOnlyList<ResourceRejection> now, bool restoring)
    {
        var set = update.BaseRevision == 0 ? ImmutableDictionary<ResourceKey, ResourceRejection>.Empty.ToBuilder() : _rejected.ToBuilder();
        if (update.BaseRevision != 0)
        {
            foreach (var wire in update.Upserts.Select(u => u.Key).Concat(update.Removals))
                set.Remove(new ResourceKey((ResourceKind)(int)wire.Kind, wire.Tenant, wire.Id));
        }
        if (restoring)
        {
            foreach (var saved in update.Rejected)
                set[new ResourceKey((ResourceKind)(int)saved.Key.Kind, saved.Key.Tenant, saved.Key.Id)] =
                    new ResourceRejection(new ResourceKey((ResourceKind)(int)saved.Key.Kind, saved.Key.Tenant, saved.Key.Id), saved.Revision, saved.Reason);
        }
        foreach (var rejection in now)
            set[rejection.Key] = rejection;
        return set.ToImmutable();
    }

    /// <summary>
    /// <paramref name="update"/> as this worker serves it, which is what its last-known-good file keeps:
    /// without the versions it rejected (a full snapshot keeps the version served before instead), and
    /// with the complete rejected set, so a restart still reports it.
    /// </summary>
    private static ConfigUpdate AsServed(ConfigUpdate update, ConfigSnapshot before, IReadOnlyList<ResourceRejection> now, ImmutableDictionary<ResourceKey, ResourceRejection> rejected)
    {
        if (now.Count == 0 && rejected.Count == 0 && update.Rejected.Count == 0)
            return update;
        var left = now.Select(r => r.Key).ToHashSet();
        var served = new ConfigUpdate { Revision = update.Revision, BaseRevision = update.BaseRevision };
        foreach (var resource in update.Upserts)
        {
            var key = new ResourceKey((ResourceKind)(int)resource.Key.Kind, resource.Key.Tenant, resource.Key.Id);
            if (!left.Contains(key))
                served.Upserts.Add(resource);
            else if (update.BaseRevision == 0 && before.ToWire(key) is { } kept)
                served.Upserts.Add(kept);
        }
        served.Removals.AddRange(update.Removals.Where(k => !left.Contains(new ResourceKey((ResourceKind)(int)k.Kind, k.Tenant, k.Id))));
        served.Rejected.AddRange(rejected.Values.Select(r => new RejectedResource { Key = ResourceKinds.ToWire(r.Key), Revision = r.Revision, Reason = r.Reason }));
        return served;
    }

    private ApplyResult Rejected(ConfigUpdate update, string reason)
    {
        logger.LogWarning("Rejected revision {Revision}, still serving {Applied}: {Reason}", update.Revision, AppliedRevision, reason);
        return new ApplyResult(ApplyOutcome.Rejected, update.Revision, reason);
    }
}
