using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.DataPlanes;

/// <summary>Answers "is revision R live?": which workers of R's pool have applied it.</summary>
public sealed class Rollouts(ConfigStore store, IGrainFactory grains)
{
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);

    public async Task<Rollout?> GetAsync(long revision) =>
        await store.PoolOfRevisionAsync(revision) is { } pool
            ? await grains.GetGrain<IDataPlanePoolGrain>(pool).GetRollout(revision)
            : null;

    public async Task<Rollout> WaitAsync(long revision, TimeSpan timeout)
    {
        var pool = await store.PoolOfRevisionAsync(revision) ?? throw AdminException.NotFound($"Revision {revision}");
        return await grains.GetGrain<IDataPlanePoolGrain>(pool).WaitForRollout(revision, timeout);
    }
}
