using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Tenants;

/// <summary>A tenant's settings and the pool that serves it.</summary>
/// <remarks>
/// The tenant's state is exactly its newest committed <c>config_resources</c> row (its pool is in
/// the spec), loaded when the grain activates; a commit is the only write.
/// </remarks>
public sealed class TenantGrain(ConfigStore store) : Grain, ITenantGrain
{
    private TenantSpec? _spec;
    private long _revision;

    private string Tenant => this.GetPrimaryKeyString();
    private ResourceKey Key => ResourceKey.OfTenant(Tenant);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (await store.GetLatestAsync(Key, cancellationToken) is { } row)
            (_spec, _revision) = (row.Json is null ? null : ConfigJson.Read<TenantSpec>(row.Json), row.Revision);
    }

    public Task<TenantResource?> Get() => Task.FromResult(Current());

    public Task<string> GetPool() =>
        _spec is { } spec ? Task.FromResult(spec.Pool) : throw AdminException.NotFound($"Tenant '{Tenant}'");

    public async Task<WriteResult<TenantResource>> Put(TenantSpec spec, string? ifMatch)
    {
        var existing = _spec;
        ETags.Check(ifMatch, existing is null ? null : _revision, $"Tenant '{Tenant}'");
        if (existing is not null && ConfigJson.Write(existing) == ConfigJson.Write(spec))
            return new(Current()!, _revision, false);
        await Commit(existing?.Pool, spec);
        return new(Current()!, _revision, existing is null);
    }

    public async Task<long> Delete(string? ifMatch)
    {
        var existing = _spec ?? throw AdminException.NotFound($"Tenant '{Tenant}'");
        ETags.Check(ifMatch, _revision, $"Tenant '{Tenant}'");
        await Commit(existing.Pool, null);
        return _revision;
    }

    private TenantResource? Current() => _spec is { } spec ? new TenantResource(Tenant, spec, _revision) : null;

    // Through the host registry: it checks the claims platform-wide and commits to the pool(s).
    private async Task Commit(string? fromPool, TenantSpec? spec)
    {
        _revision = await this.CommitAsync(() => GrainFactory.GetGrain<IHostRegistryGrain>(HostRegistry.Key).Commit(Tenant, fromPool, spec));
        _spec = spec;
    }
}
