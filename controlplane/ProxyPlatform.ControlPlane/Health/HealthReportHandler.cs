using System.Collections.Concurrent;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.ControlPlane.Health;

/// <summary>
/// Hands each worker's health reports to the verdict grain of every cluster they name, and tells those
/// grains when the worker stops reporting on a cluster: a full report that no longer lists it, or the
/// end of the worker's stream. Which clusters each stream reported on is kept here, on the node that
/// holds the stream.
/// </summary>
public sealed class HealthReportHandler(IGrainFactory grains, ILogger<HealthReportHandler> logger) : IWorkerReportHandler
{
    private readonly ConcurrentDictionary<WorkerIdentity, HashSet<string>> _clustersOf = new();

    public async Task ReportAsync(WorkerIdentity worker, WorkerMessage message)
    {
        if (message.KindCase != WorkerMessage.KindOneofCase.Health)
            return;
        var report = message.Health;
        var reported = new HashSet<string>(StringComparer.Ordinal);
        var calls = new List<Task>();
        foreach (var cluster in report.Clusters)
        {
            // Only clusters of the worker's own pool, and only their backends, count: a worker cannot eject
            // another pool's backends, nor make up backends that the verdicts would then list.
            if (!ConfigValidator.IsValidId(cluster.Tenant) || !ConfigValidator.IsValidId(cluster.Cluster)
                || worker.Feed.BackendsOf(cluster.Tenant, cluster.Cluster) is not { } inPool)
            {
                logger.LogDebug("Worker {Worker} reported health of '{Tenant}/{Cluster}', which is not a cluster of pool {Pool}; ignored",
                    worker.WorkerId, cluster.Tenant, cluster.Cluster, worker.Pool);
                continue;
            }
            var key = GrainKeys.Of(cluster.Tenant, cluster.Cluster);
            reported.Add(key);
            var backends = cluster.Backends
                .Where(b => inPool.Contains(b.Backend))
                .DistinctBy(b => b.Backend)
                .Select(ToObservation)
                .ToArray();
            calls.Add(grains.GetGrain<IHealthVerdictGrain>(key).Report(worker.WorkerId, worker.Instance, backends));
        }

        var known = _clustersOf.GetOrAdd(worker, _ => new HashSet<string>(StringComparer.Ordinal));
        List<string> dropped;
        lock (known)
        {
            dropped = report.Full ? known.Where(k => !reported.Contains(k)).ToList() : [];
            known.ExceptWith(dropped);
            known.UnionWith(reported);
        }
        foreach (var key in dropped)
            calls.Add(grains.GetGrain<IHealthVerdictGrain>(key).WorkerGone(worker.WorkerId, worker.Instance));
        await Task.WhenAll(calls);
    }

    public async Task DisconnectedAsync(WorkerIdentity worker)
    {
        if (!_clustersOf.TryRemove(worker, out var known))
            return;
        List<string> keys;
        lock (known)
            keys = [.. known];
        try
        {
            await Task.WhenAll(keys.Select(key => grains.GetGrain<IHealthVerdictGrain>(key).WorkerGone(worker.WorkerId, worker.Instance)));
        }
        catch (Exception ex)
        {
            // The views expire at the end of the grains' window anyway.
            logger.LogDebug(ex, "Telling the verdict grains that worker {Worker} left failed", worker.WorkerId);
        }
    }

    private static BackendObservation ToObservation(BackendHealthView b) => new(
        b.Backend,
        b.State switch { ProbeState.Passing => ProbeView.Passing, ProbeState.Failing => ProbeView.Failing, _ => ProbeView.Unknown },
        DateTimeOffset.FromUnixTimeMilliseconds(b.SinceUnixMs),
        b.LatencyMs,
        b.Reason.Length == 0 ? null : b.Reason,
        b.Outlier,
        b.OutlierReason.Length == 0 ? null : b.OutlierReason);
}
