using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>
/// The admin operations both APIs expose: validation of IDs and bodies (one validator for REST
/// and gRPC), then a call into the owning grain. A rejected input throws <see cref="AdminException"/>
/// before anything is stored.
/// </summary>
public sealed class AdminOperations(IGrainFactory grains, ConfigStore store)
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
        (await store.ListAsync(ConfigKind.Tenant, null))
        .Select(e => new TenantResource(e.Key.Tenant, ConfigWriter.FromJson<TenantSpec>(e.Json!), e.Revision))
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

    public Task<WriteResult<RouteResource>> PutRoute(string tenant, string route, RouteSpec? spec, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("route", route), ConfigValidator.Validate(spec));
        return Route(tenant, route).Put(spec!, ifMatch);
    }

    public async Task<RouteResource> GetRoute(string tenant, string route)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("route", route));
        return await Route(tenant, route).Get() ?? throw AdminException.NotFound($"Route '{tenant}/{route}'");
    }

    public Task<long> DeleteRoute(string tenant, string route, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("route", route));
        return Route(tenant, route).Delete(ifMatch);
    }

    public async Task<IReadOnlyList<RouteResource>> ListRoutes(string tenant)
    {
        await GetTenant(tenant);
        return (await store.ListAsync(ConfigKind.Route, tenant))
            .Select(e => new RouteResource(tenant, e.Key.Id, ConfigWriter.FromJson<RouteSpec>(e.Json!), e.Revision))
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
    private IRouteGrain Route(string tenant, string route) => grains.GetGrain<IRouteGrain>(GrainKeys.Of(tenant, route));

    private static void Validate(params IReadOnlyList<FieldError>[] results)
    {
        var errors = results.SelectMany(r => r).ToList();
        if (errors.Count > 0)
            throw AdminException.Invalid(errors);
    }
}
