using System.Text.Json;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// What resource grains share to publish a change: the JSON of the model, the pool's distribution
/// grain, and the committed row a grain loads or reconciles from when it activates.
/// </summary>
public sealed class ConfigWriter(IGrainFactory grains, ConfigStore store)
{
    public static string ToJson<T>(T spec) => JsonSerializer.Serialize(spec, ConfigJson.Options);

    public static T FromJson<T>(string json) => JsonSerializer.Deserialize<T>(json, ConfigJson.Options)!;

    /// <summary>Commits a tenant's own entry to <paramref name="pool"/> (the tenant's grain knows its pool).</summary>
    public Task<long> CommitAsync(string pool, ConfigEntry entry) => grains.GetGrain<IDistributionGrain>(pool).Commit([entry]);

    /// <summary>Commits an entry of a resource that belongs to a tenant (a cluster, a route) to the tenant's pool.</summary>
    public async Task<long> CommitToTenantPoolAsync(ConfigEntry entry)
    {
        var pool = await grains.GetGrain<ITenantGrain>(entry.Key.Tenant).GetPool();
        return await grains.GetGrain<IDistributionGrain>(pool).Commit([entry]);
    }

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

    /// <summary>
    /// The resource as last committed: its spec (null when it does not exist) and the revision of
    /// its last change (0 when it never existed). Grains whose state is exactly that row load it
    /// from here instead of keeping a copy of their own.
    /// </summary>
    public async Task<(TSpec? Spec, long Revision)> LoadAsync<TSpec>(ConfigKey key, CancellationToken ct) where TSpec : class =>
        await store.GetLatestAsync(key, ct) is { } row
            ? (row.Json is null ? null : FromJson<TSpec>(row.Json), row.Revision)
            : (null, 0);
}
