using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;

namespace ProxyPlatform.ControlPlane.Tenants;

[GenerateSerializer, Alias("pp.TenantState")]
public sealed class TenantState
{
    [Id(0)] public TenantSpec? Spec { get; set; }
    [Id(1)] public long Revision { get; set; }
}

/// <summary>A tenant's settings and the pool that serves it.</summary>
public sealed class TenantGrain(
    [PersistentState("tenant", Hosting.ControlPlaneHost.ResourceStorage)] IPersistentState<TenantState> state,
    ConfigWriter writer) : Grain, ITenantGrain
{
    private string Tenant => this.GetPrimaryKeyString();
    private ConfigKey Key => new(ConfigKind.Tenant, Tenant, Tenant);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (await writer.NewerThanAsync(Key, state.State.Revision) is { } newer)
        {
            state.State.Spec = newer.Json is null ? null : ConfigWriter.FromJson<TenantSpec>(newer.Json);
            state.State.Revision = newer.Revision;
            await state.WriteStateAsync(cancellationToken);
        }
    }

    public Task<TenantResource?> Get() => Task.FromResult(Current());

    public Task<string> GetPool() =>
        state.State.Spec is { } spec ? Task.FromResult(spec.Pool) : throw AdminException.NotFound($"Tenant '{Tenant}'");

    public async Task<WriteResult<TenantResource>> Put(TenantSpec spec, string? ifMatch)
    {
        var existing = state.State.Spec;
        ETags.Check(ifMatch, existing is null ? null : state.State.Revision, $"Tenant '{Tenant}'");
        var json = ConfigWriter.ToJson(spec);
        if (existing is not null && ConfigWriter.ToJson(existing) == json)
            return new(Current()!, state.State.Revision, false);

        if (existing is not null && existing.Pool != spec.Pool)
        {
            try
            {
                await writer.CommitAsync(existing.Pool, new ConfigEntry(Key, 0, null));
            }
            catch (AdminException ex) when (ex.Kind == AdminErrorKind.Conflict)
            {
                throw AdminException.Conflict(
                    $"Tenant '{Tenant}' cannot move from pool '{existing.Pool}' to '{spec.Pool}' while it has clusters or routes.");
            }
        }
        var revision = await writer.CommitAsync(spec.Pool, new ConfigEntry(Key, 0, json));
        await Save(spec, revision);
        return new(Current()!, revision, existing is null);
    }

    public async Task<long> Delete(string? ifMatch)
    {
        var existing = state.State.Spec ?? throw AdminException.NotFound($"Tenant '{Tenant}'");
        ETags.Check(ifMatch, state.State.Revision, $"Tenant '{Tenant}'");
        var revision = await writer.CommitAsync(existing.Pool, new ConfigEntry(Key, 0, null));
        await Save(null, revision);
        return revision;
    }

    private TenantResource? Current() =>
        state.State.Spec is { } spec ? new TenantResource(Tenant, spec, state.State.Revision) : null;

    private async Task Save(TenantSpec? spec, long revision)
    {
        state.State.Spec = spec;
        state.State.Revision = revision;
        await ConfigWriter.SaveAsync(state, DeactivateOnIdle);
    }
}
