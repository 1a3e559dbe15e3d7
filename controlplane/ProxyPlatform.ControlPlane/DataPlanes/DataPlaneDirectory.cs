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

    /// <summary>
    /// A page of the workers, each with its state, lag and convergence from its pool, in order of their IDs; the
    /// keyset is applied where their records are stored.
    /// </summary>
    public async Task<Api.Page<DataPlaneStatus>> PageWithProgressAsync(Api.PageRequest page, CancellationToken ct = default)
    {
        var ids = page.Take(await NpgsqlGrainStorage.ListKeysAsync(db, DataPlaneGrain.GrainType, page.AfterPart(0), page.Limit + 1, ct), id => [id]);
        var statuses = (await Task.WhenAll(ids.Items.Select(id => grains.GetGrain<IDataPlaneGrain>(id).Get()))).OfType<DataPlaneStatus>();
        var byPool = await Task.WhenAll(statuses.GroupBy(w => w.Pool)
            .Select(pool => grains.GetGrain<IDataPlanePoolGrain>(pool.Key).Assess([.. pool])));
        return new Api.Page<DataPlaneStatus>([.. byPool.SelectMany(p => p).OrderBy(w => w.Worker, StringComparer.Ordinal)], ids.Next);
    }

    /// <summary>Which workers reject <paramref name="resource"/>, and why, as each said in its last ACK.</summary>
    public async Task<IReadOnlyList<(string Worker, ResourceRejection Rejection)>> RejectionsOfAsync(Resources.ResourceKey resource, CancellationToken ct = default) =>
        [.. from worker in await ListAsync(ct)
            from rejection in worker.Rejected
            where rejection.Resource == resource
            orderby worker.Worker
            select (worker.Worker, rejection)];
}
