using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Health;
using ProxyPlatform.ControlPlane.Hosting;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>
/// The admin operations both APIs expose: validation of IDs and bodies (one validator for REST
/// and gRPC), then a call into the owning grain. A rejected input throws <see cref="AdminException"/>
/// before anything is stored.
/// </summary>
public sealed class AdminOperations(IGrainFactory grains, GrainReferences<IRouteTableGrain> routeTables, ConfigStore store, HealthStore health)
{
    public Task<WriteResult<TenantResource>> PutTenant(string tenant, TenantSpec? spec, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.Validate(spec));
        return Tenant(tenant).Put(spec!, ifMatch);
    }

    public async Task<TenantResource> GetTenant(string tenant)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant));
        return await Tenant(tenant).Get() ?? throw AdminException.NotFound($"Tenant '{tenant}'");
    }

    public Task<long> DeleteTenant(string tenant, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant));
        return Tenant(tenant).Delete(ifMatch);
    }

    public async Task<IReadOnlyList<TenantResource>> ListTenants() =>
        (await store.ListAsync(ResourceKind.Tenant, null))
        .Select(e => new TenantResource(e.Key.Tenant, ConfigJson.Read<TenantSpec>(e.Json!), e.Revision))
        .ToList();

    public Task<WriteResult<ClusterResource>> PutCluster(string tenant, string cluster, ClusterSpec? spec, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster), ConfigValidator.Validate(spec));
        return Cluster(tenant, cluster).Put(spec!, ifMatch);
    }

    public async Task<ClusterResource> GetCluster(string tenant, string cluster)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster));
        return await Cluster(tenant, cluster).Get() ?? throw AdminException.NotFound($"Cluster '{tenant}/{cluster}'");
    }

    public Task<long> DeleteCluster(string tenant, string cluster, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster));
        return Cluster(tenant, cluster).Delete(ifMatch);
    }

    public Task<WriteResult<BackendResource>> PutBackend(string tenant, string cluster, string backend, BackendSpec? spec, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster),
            ConfigValidator.ValidateId("backend", backend), ConfigValidator.Validate(spec));
        return Cluster(tenant, cluster).PutBackend(backend, spec!, ifMatch);
    }

    public async Task<BackendResource> GetBackend(string tenant, string cluster, string backend)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster), ConfigValidator.ValidateId("backend", backend));
        return await Cluster(tenant, cluster).GetBackend(backend) ?? throw AdminException.NotFound($"Backend '{tenant}/{cluster}/{backend}'");
    }

    public Task<long> DeleteBackend(string tenant, string cluster, string backend, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster), ConfigValidator.ValidateId("backend", backend));
        return Cluster(tenant, cluster).DeleteBackend(backend, ifMatch);
    }

    public Task<IReadOnlyList<BackendResource>> ListBackends(string tenant, string cluster)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster));
        return Cluster(tenant, cluster).ListBackends();
    }

    /// <summary>One backend with its verdict, since when, and each reporting worker's view.</summary>
    public async Task<(BackendResource Backend, BackendHealthStatus Health)> GetBackendWithHealth(string tenant, string cluster, string backend)
    {
        var resource = await GetBackend(tenant, cluster, backend);
        var status = (await grains.GetGrain<IHealthVerdictGrain>(GrainKeys.Of(tenant, cluster)).GetStatus()).FirstOrDefault(s => s.Backend == backend);
        return (resource, status ?? BackendHealthStatus.Unknown(backend));
    }

    /// <summary>The cluster's backends, each with its verdict, since when, and each reporting worker's view.</summary>
    public async Task<IReadOnlyList<(BackendResource Backend, BackendHealthStatus Health)>> ListBackendsWithHealth(string tenant, string cluster)
    {
        var backends = await ListBackends(tenant, cluster);
        var statuses = (await grains.GetGrain<IHealthVerdictGrain>(GrainKeys.Of(tenant, cluster)).GetStatus())
            .ToDictionary(s => s.Backend, StringComparer.Ordinal);
        return backends.Select(b => (b, statuses.GetValueOrDefault(b.Backend) ?? BackendHealthStatus.Unknown(b.Backend))).ToList();
    }

    /// <summary>
    /// A backend's verdict changes, newest first: at most <paramref name="limit"/> (default 100, up to
    /// <see cref="HealthStore.MaxHistory"/>). The cluster must exist; the backend need not any more.
    /// </summary>
    public async Task<IReadOnlyList<VerdictChange>> HealthHistory(string tenant, string cluster, string backend, string? limit)
    {
        var count = 100;
        var limitErrors = new List<FieldError>();
        if (limit is not null && (!int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out count)
            || count < 1 || count > HealthStore.MaxHistory))
            limitErrors.Add(new FieldError("limit", $"'{limit}' is not a limit: expected a whole number from 1 to {HealthStore.MaxHistory}."));
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster), ConfigValidator.ValidateId("backend", backend), limitErrors);
        await GetCluster(tenant, cluster);
        return await health.HistoryAsync(tenant, cluster, backend, count);
    }

    public async Task<WriteResult<RouteResource>> PutRoute(string tenant, string route, RouteSpec? spec, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("route", route), ConfigValidator.Validate(spec));
        // The stored route is this spec, or one with the same JSON when unchanged.
        var (revision, created) = await Routes(tenant).Put(route, ConfigJson.Write(spec!), ifMatch);
        return new WriteResult<RouteResource>(new RouteResource(tenant, route, spec!, revision), revision, created);
    }

    public async Task<RouteResource> GetRoute(string tenant, string route)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("route", route));
        return await Routes(tenant).Get(route) ?? throw AdminException.NotFound($"Route '{tenant}/{route}'");
    }

    public Task<long> DeleteRoute(string tenant, string route, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("route", route));
        return Routes(tenant).Delete(route, ifMatch);
    }

    public async Task<IReadOnlyList<RouteResource>> ListRoutes(string tenant)
    {
        await GetTenant(tenant);
        return (await store.ListAsync(ResourceKind.Route, tenant))
            .Select(e => new RouteResource(tenant, e.Key.Id, ConfigJson.Read<RouteSpec>(e.Json!), e.Revision))
            .ToList();
    }

    /// <summary>The tenant's traffic as its workers reported it; NotFound for an unknown tenant.</summary>
    public async Task<TenantTrafficReport> GetTenantMetrics(string tenant)
    {
        await GetTenant(tenant);
        return await grains.GetGrain<ITenantMetricsGrain>(tenant).Get();
    }

    private ITenantGrain Tenant(string tenant) => grains.GetGrain<ITenantGrain>(tenant);
    private IClusterGrain Cluster(string tenant, string cluster) => grains.GetGrain<IClusterGrain>(GrainKeys.Of(tenant, cluster));
    private IRouteTableGrain Routes(string tenant) => routeTables[tenant];

    private static void Validate(params IReadOnlyList<FieldError>[] results)
    {
        var errors = results.SelectMany(r => r).ToList();
        if (errors.Count > 0)
            throw AdminException.Invalid(errors);
    }
}
