using Orleans.Placement;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;

namespace ProxyPlatform.ControlPlane.Routing;

/// <summary>
/// One route of a tenant's route table. A grain per route keeps each write proportional to the
/// route it changes, however many routes the tenant has.
/// </summary>
/// <remarks>
/// The route's state is exactly its committed <c>config_resources</c> row (spec and revision), so
/// the grain keeps no copy of its own: it loads the row when it activates, and a commit is the only
/// write a PUT makes. It activates on the node that took the request (a route is written and read
/// through the admin API, mostly from one client), which saves that request a hop between nodes.
/// </remarks>
[PreferLocalPlacement]
public sealed class RouteGrain(ConfigWriter writer) : Grain, IRouteGrain
{
    private string _tenant = "";
    private string _route = "";
    private RouteSpec? _spec;
    private long _revision;

    private ConfigKey Key => new(ConfigKind.Route, _tenant, _route);
    private string What => $"Route '{_tenant}/{_route}'";

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_tenant, _route) = GrainKeys.Split(this.GetPrimaryKeyString());
        (_spec, _revision) = await writer.LoadAsync<RouteSpec>(Key, cancellationToken);
    }

    public Task<RouteResource?> Get() => Task.FromResult(Current());

    public async Task<WriteResult<RouteResource>> Put(RouteSpec spec, string? ifMatch)
    {
        var existing = _spec;
        ETags.Check(ifMatch, existing is null ? null : _revision, What);
        var json = ConfigWriter.ToJson(spec);
        if (existing is not null && ConfigWriter.ToJson(existing) == json)
            return new(Current()!, _revision, false);
        await Commit(spec, json);
        return new(Current()!, _revision, existing is null);
    }

    public async Task<long> Delete(string? ifMatch)
    {
        if (_spec is null)
            throw AdminException.NotFound(What);
        ETags.Check(ifMatch, _revision, What);
        await Commit(null, null);
        return _revision;
    }

    private RouteResource? Current() => _spec is { } spec ? new RouteResource(_tenant, _route, spec, _revision) : null;

    private async Task Commit(RouteSpec? spec, string? json)
    {
        try
        {
            _revision = await writer.CommitToTenantPoolAsync(new ConfigEntry(Key, 0, json));
            _spec = spec;
        }
        catch (Exception ex) when (ex is not AdminException)
        {
            // The change may have been committed even so (a lost answer): reload the row next time.
            DeactivateOnIdle();
            throw;
        }
    }
}
