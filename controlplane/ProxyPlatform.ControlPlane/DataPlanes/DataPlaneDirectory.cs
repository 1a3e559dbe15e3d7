using Npgsql;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.DataPlanes;

/// <summary>Every worker the control plane has ever registered, with its live status from its grain.</summary>
public sealed class DataPlaneDirectory(NpgsqlDataSource db, IGrainFactory grains)
{
    public async Task<IReadOnlyList<DataPlaneStatus>> ListAsync(CancellationToken ct = default)
    {
        // A worker's grain stores its record as soon as it connects, so the grain storage knows them all.
        var ids = await NpgsqlGrainStorage.ListKeysAsync(db, DataPlaneGrain.GrainType, ct);
        var statuses = await Task.WhenAll(ids.Select(id => grains.GetGrain<IDataPlaneGrain>(id).Get()));
        return statuses.OfType<DataPlaneStatus>().ToList();
    }

    /// <summary>Every worker as <see cref="ListAsync"/> has it, with its state, lag and convergence from its pool.</summary>
    public async Task<IReadOnlyList<DataPlaneStatus>> ListWithProgressAsync(CancellationToken ct = default)
    {
        var byPool = await Task.WhenAll((await ListAsync(ct)).GroupBy(w => w.Pool)
            .Select(pool => grains.GetGrain<IDataPlanePoolGrain>(pool.Key).Assess([.. pool])));
        return [.. byPool.SelectMany(p => p).OrderBy(w => w.Worker, StringComparer.Ordinal)];
    }

    /// <summary>Which workers reject <paramref name="resource"/>, and why, as each said in its last ACK.</summary>
    public async Task<IReadOnlyList<(string Worker, ResourceRejection Rejection)>> RejectionsOfAsync(Resources.ResourceKey resource, CancellationToken ct = default) =>
        [.. from worker in await ListAsync(ct)
            from rejection in worker.Rejected
            where rejection.Resource == resource
            orderby worker.Worker
            select (worker.Worker, rejection)];
}
