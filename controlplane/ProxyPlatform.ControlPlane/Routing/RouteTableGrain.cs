using Orleans.Concurrency;
using Orleans.Placement;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Routing;

/// <summary>
/// A tenant's route table: every route of the tenant, as last committed. One grain per tenant,
/// not per route, so adding a route costs no activation, no directory entry and no query; the
/// table is read once, when the grain activates.
/// </summary>
/// <remarks>
/// <para>
/// The table's state is exactly the tenant's committed <c>config_resources</c> rows (spec and
/// revision of each route), so the grain keeps no copy of its own, and a write commits one row:
/// changing one route of 10,000 writes that route only.
/// </para>
/// <para>
/// The grain is reentrant so that a tenant's writes to different routes wait on PostgreSQL
/// together (the distribution grain commits them in one transaction) instead of one after
/// another. Writes to the same route still run one at a time, in the order they arrived, so each
/// sees the one before it (If-Match and "unchanged" are checked against the committed route).
/// Reads answer from the committed table and do not wait for a write in progress.
/// </para>
/// </remarks>
[Reentrant]
[PreferLocalPlacement]
public sealed class RouteTableGrain(ConfigCommits commits, ConfigStore store) : Grain, IRouteTableGrain
{
    private readonly Dictionary<string, CommittedRoute> _routes = new(StringComparer.Ordinal);
    // The operation in progress on each route that has one; the next one waits for it.
    private readonly Dictionary<string, Task> _tails = new(StringComparer.Ordinal);
    // Routes whose commit ended without an answer (it may have been committed): read again before their next use.
    private readonly HashSet<string> _unsure = new(StringComparer.Ordinal);

    private string Tenant => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var row in await store.ListAsync(ResourceKind.Route, Tenant, cancellationToken))
            _routes[row.Key.Id] = new CommittedRoute(row.Json!, row.Revision);
    }

    public Task<RouteResource?> Get(string route) =>
        _unsure.Contains(route) ? InTurn(route, () => Task.FromResult(Current(route))) : Task.FromResult(Current(route));

    public Task<(long Revision, bool Created)> Put(string route, string specJson, string? ifMatch) => InTurn(route, async () =>
    {
        var existing = _routes.GetValueOrDefault(route);
        ETags.Check(ifMatch, existing?.Revision, What(route));
        if (existing?.Json == specJson)
            return (existing.Revision, false);
        var revision = await Commit(route, specJson);
        _routes[route] = new CommittedRoute(specJson, revision);
        return (revision, existing is null);
    });

    public Task<long> Delete(string route, string? ifMatch) => InTurn(route, async () =>
    {
        if (!_routes.TryGetValue(route, out var existing))
            throw AdminException.NotFound(What(route));
        ETags.Check(ifMatch, existing.Revision, What(route));
        var revision = await Commit(route, null);
        _routes.Remove(route);
        return revision;
    });

    public async Task Reload(string[] routes)
    {
        foreach (var route in routes)
            await InTurn(route, async () => { await ReloadAsync(route); return true; });
    }

    private string What(string route) => $"Route '{Tenant}/{route}'";

    private RouteResource? Current(string route) =>
        _routes.TryGetValue(route, out var r) ? new RouteResource(Tenant, route, r.Spec, r.Revision) : null;

    private async Task<long> Commit(string route, string? json)
    {
        try
        {
            return await commits.CommitAsync(new ConfigEntry(ResourceKey.OfRoute(Tenant, route), 0, json));
        }
        catch (Exception ex) when (ex is not AdminException)
        {
            _unsure.Add(route);
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="operation"/> once every earlier operation on <paramref name="route"/> has
    /// finished, after reading the route's committed row again if an earlier commit ended without an answer.
    /// </summary>
    private async Task<T> InTurn<T>(string route, Func<Task<T>> operation)
    {
        var previous = _tails.GetValueOrDefault(route);
        var done = new TaskCompletionSource();
        _tails[route] = done.Task;
        try
        {
            if (previous is not null)
                await previous;
            if (_unsure.Contains(route))
                await ReloadAsync(route);
            return await operation();
        }
        finally
        {
            done.SetResult();
            if (_tails.GetValueOrDefault(route) == done.Task)
                _tails.Remove(route);
        }
    }

    private async Task ReloadAsync(string route)
    {
        if (await store.GetLatestAsync(ResourceKey.OfRoute(Tenant, route)) is { Json: { } json } row)
            _routes[route] = new CommittedRoute(json, row.Revision);
        else
            _routes.Remove(route);
        _unsure.Remove(route);
    }

    /// <summary>A route as committed: its JSON (what writes compare with) and its spec, read once when first asked for.</summary>
    private sealed class CommittedRoute(string json, long revision)
    {
        private RouteSpec? _spec;

        public string Json { get; } = json;
        public long Revision { get; } = revision;
        public RouteSpec Spec => _spec ??= ConfigJson.Read<RouteSpec>(Json);
    }
}
