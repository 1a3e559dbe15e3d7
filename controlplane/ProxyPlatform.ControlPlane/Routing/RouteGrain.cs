using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;

namespace ProxyPlatform.ControlPlane.Routing;

[GenerateSerializer, Alias("pp.RouteState")]
public sealed class RouteState
{
    [Id(0)] public RouteSpec? Spec { get; set; }
    [Id(1)] public long Revision { get; set; }
}

/// <summary>
/// One route of a tenant's route table. A grain per route keeps each write proportional to the
/// route it changes, however many routes the tenant has.
/// </summary>
public sealed class RouteGrain(
    [PersistentState("route", Hosting.ControlPlaneHost.ResourceStorage)] IPersistentState<RouteState> state,
    ConfigWriter writer) : Grain, IRouteGrain
{
    private (string Tenant, string Route) Id => GrainKeys.Split(this.GetPrimaryKeyString());
    private ConfigKey Key => new(ConfigKind.Route, Id.Tenant, Id.Route);
    private string What => $"Route '{Id.Tenant}/{Id.Route}'";

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (await writer.NewerThanAsync(Key, state.State.Revision) is { } newer)
        {
            state.State.Spec = newer.Json is null ? null : ConfigWriter.FromJson<RouteSpec>(newer.Json);
            state.State.Revision = newer.Revision;
            await state.WriteStateAsync(cancellationToken);
        }
    }

    public Task<RouteResource?> Get() => Task.FromResult(Current());

    public async Task<WriteResult<RouteResource>> Put(RouteSpec spec, string? ifMatch)
    {
        var existing = state.State.Spec;
        ETags.Check(ifMatch, existing is null ? null : state.State.Revision, What);
        var json = ConfigWriter.ToJson(spec);
        if (existing is not null && ConfigWriter.ToJson(existing) == json)
            return new(Current()!, state.State.Revision, false);
        var pool = await writer.PoolOfAsync(Id.Tenant);
        var revision = await writer.CommitAsync(pool, new ConfigEntry(Key, 0, json));
        await Save(spec, revision);
        return new(Current()!, revision, existing is null);
    }

    public async Task<long> Delete(string? ifMatch)
    {
        if (state.State.Spec is null)
            throw AdminException.NotFound(What);
        ETags.Check(ifMatch, state.State.Revision, What);
        var pool = await writer.PoolOfAsync(Id.Tenant);
        var revision = await writer.CommitAsync(pool, new ConfigEntry(Key, 0, null));
        await Save(null, revision);
        return revision;
    }

    private RouteResource? Current() =>
        state.State.Spec is { } spec ? new RouteResource(Id.Tenant, Id.Route, spec, state.State.Revision) : null;

    private async Task Save(RouteSpec? spec, long revision)
    {
        state.State.Spec = spec;
        state.State.Revision = revision;
        await ConfigWriter.SaveAsync(state, DeactivateOnIdle);
    }
}
