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
/// new snapshot, validated whole, swapped into YARP and saved as last-known-good, or rejected
/// while the previous snapshot keeps serving.
/// </summary>
public sealed class ConfigApplier(SnapshotValidator validator, ControlPlaneConfigProvider provider, LastKnownGood lastKnownGood, ILogger<ConfigApplier> logger)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile ConfigSnapshot? _current;

    /// <summary>The snapshot being served, or null while no configuration has ever been applied.</summary>
    public ConfigSnapshot? Current => _current;

    /// <summary>The revision being served, 0 when none.</summary>
    public long AppliedRevision => _current?.Revision ?? 0;

    public async Task<ApplyResult> ApplyAsync(ConfigUpdate update, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return await ApplyLockedAsync(update, restoring: false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Applies a burst of updates as one: one validation, one swap and one save. If the merged
    /// result is rejected, applies them one by one so that the update at fault is the one NACKed.
    /// </summary>
    public async Task<ApplyResult> ApplyAsync(IReadOnlyList<ConfigUpdate> updates, CancellationToken cancellationToken = default)
    {
        if (updates.Count > 1 && UpdateBatch.Merge(updates) is { } merged)
        {
            var result = await ApplyAsync(merged, cancellationToken);
            if (result.Outcome != ApplyOutcome.Rejected)
                return result;
        }
        ApplyResult? last = null;
        foreach (var update in updates)
        {
            last = await ApplyAsync(update, cancellationToken);
            if (last.Outcome != ApplyOutcome.Applied)
                return last;
        }
        return last!;
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
            var result = await ApplyLockedAsync(saved, restoring: true);
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

    private async Task<ApplyResult> ApplyLockedAsync(ConfigUpdate update, bool restoring)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var current = _current ?? ConfigSnapshot.Empty;
        if (!current.Precedes(update))
            return new ApplyResult(ApplyOutcome.OutOfSequence, update.Revision,
                $"revision {update.Revision} applies on top of {update.BaseRevision}, but this worker serves {(_current is null ? "nothing" : _current.Revision)}.");

        if (!current.TryApply(update, out var next, out var rejection))
            return Rejected(update, rejection);
        SnapshotValidation validation;
        try
        {
            validation = await validator.ValidateAsync(next);
        }
        catch (Exception ex)
        {
            // Whatever a configuration holds, it must not take the worker down: reject it instead.
            logger.LogError(ex, "Validating revision {Revision} failed", update.Revision);
            return Rejected(update, $"the configuration could not be validated: {ex.Message}");
        }
        if (!validation.IsValid)
            return Rejected(update, validation.Rejection!);

        var validated = System.Diagnostics.Stopwatch.GetTimestamp();
        provider.Update(next.Revision, validation.Config!);
        _current = next;
        var swapped = System.Diagnostics.Stopwatch.GetTimestamp();
        var source = restoring ? $"last-known-good from {lastKnownGood.FilePath}" : update.BaseRevision == 0 ? "snapshot" : $"delta from {update.BaseRevision}";

        if (!restoring)
        {
            try
            {
                // Not cancellable: what is served is what is saved.
                await lastKnownGood.SaveAsync(next, CancellationToken.None);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The configuration is served either way; only a restart without the control plane would miss it.
                logger.LogError(ex, "Could not save the last-known-good configuration to {Path}", lastKnownGood.FilePath);
            }
        }
        logger.LogInformation(
            "Applied revision {Revision} ({Source}): {Tenants} tenants, {Clusters} clusters, {Routes} routes; validate {ValidateMs:0.0} ms, swap {SwapMs:0.0} ms, save {SaveMs:0.0} ms",
            next.Revision, source, next.Tenants.Count, next.Clusters.Count, next.Routes.Count,
            System.Diagnostics.Stopwatch.GetElapsedTime(started, validated).TotalMilliseconds,
            System.Diagnostics.Stopwatch.GetElapsedTime(validated, swapped).TotalMilliseconds,
            System.Diagnostics.Stopwatch.GetElapsedTime(swapped).TotalMilliseconds);
        return new ApplyResult(ApplyOutcome.Applied, next.Revision);
    }

    private ApplyResult Rejected(ConfigUpdate update, string reason)
    {
        logger.LogWarning("Rejected revision {Revision}, still serving {Applied}: {Reason}", update.Revision, AppliedRevision, reason);
        return new ApplyResult(ApplyOutcome.Rejected, update.Revision, reason);
    }
}
