using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.DataPlanes;

/// <summary>Answers "is revision R live?": which workers of R's pool have applied it.</summary>
public sealed class Rollouts(ConfigStore store, IGrainFactory grains)
{
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);

    /// <summary>The rollout of a revision, or null when there is none the caller may see (a tenant sees its own writes' only).</summary>
    public async Task<Rollout?> GetAsync(Caller caller, long revision) =>
        await store.CommitOfAsync(revision) is { } commit && (caller.IsOperator || commit.Tenant == caller.Tenant)
            ? await grains.GetGrain<IDataPlanePoolGrain>(commit.Pool).GetRollout(revision)
            : null;

    public async Task<Rollout> WaitAsync(long revision, TimeSpan timeout)
    {
        var commit = await store.CommitOfAsync(revision) ?? throw AdminException.NotFound($"Revision {revision}");
        return await grains.GetGrain<IDataPlanePoolGrain>(commit.Pool).WaitForRollout(revision, timeout);
    }
}
