using System.Text.Json;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// What resource grains share to publish a change: the JSON of the model, the pool's distribution
/// grain, and the reconciliation a grain does when it activates.
/// </summary>
public sealed class ConfigWriter(IGrainFactory grains, ConfigStore store)
{
    public static string ToJson<T>(T spec) => JsonSerializer.Serialize(spec, ConfigJson.Options);

    public static T FromJson<T>(string json) => JsonSerializer.Deserialize<T>(json, ConfigJson.Options)!;

    public Task<long> CommitAsync(string pool, params ConfigEntry[] entries) =>
        grains.GetGrain<IDistributionGrain>(pool).Commit(entries);

    public Task<string> PoolOfAsync(string tenant) => grains.GetGrain<ITenantGrain>(tenant).GetPool();

    /// <summary>
    /// Persists a resource grain's state after its change was committed. If that write fails the
    /// change is still committed and distributed, so the grain deactivates: a fresh activation
    /// reconciles from the committed row (<see cref="NewerThanAsync"/>).
    /// </summary>
    public static async Task SaveAsync(Orleans.Core.IStorage state, Action deactivate)
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            deactivate();
            throw;
        }
    }

    /// <summary>
    /// The resource's newest committed row when it is newer than <paramref name="revision"/>: the
    /// grain's own state write can fail after the change was committed and distributed, and the
    /// committed change is the truth the data plane already serves.
    /// </summary>
    public async Task<ConfigEntry?> NewerThanAsync(ConfigKey key, long revision)
    {
        var latest = await store.GetLatestAsync(key);
        return latest is not null && latest.Revision > revision ? latest : null;
    }
}
