using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// One run of a worker on one authenticated stream: its ID, its pool, the instance of its process, and
/// this node's view of the pool, against which what it reports is judged: a worker reports only on
/// routes, clusters and backends of its own pool.
/// </summary>
public sealed record WorkerIdentity(string WorkerId, string Pool, string Instance, PoolFeed Feed);

/// <summary>
/// Takes in what workers report on the configuration stream besides ACKs, NACKs and heartbeats
/// (health probe results, traffic metrics). Every registered handler sees every such message and
/// acts on the kinds it knows.
/// </summary>
public interface IWorkerReportHandler
{
    Task ReportAsync(WorkerIdentity worker, WorkerMessage message);

    /// <summary>The worker's stream ended: what it reported on it stops counting where it should.</summary>
    Task DisconnectedAsync(WorkerIdentity worker);
}
