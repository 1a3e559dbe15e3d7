using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.ControlPlane.Health;
using ProxyPlatform.ControlPlane.Hosting;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>
/// The admin operations both APIs expose: validation of IDs, the caller's right to the tenant, then
/// validation of the body (one validator for REST and gRPC) and a call into the owning grain. A
/// refused request throws <see cref="AdminException"/> before anything is stored.
/// </summary>
public sealed class AdminOperations(
    IGrainFactory grains, GrainReferences<IRouteTableGrain> routeTables, ConfigStore store, HealthStore health, KeyOperations keys, ControlPlaneOptions options,
    TimeProvider clock, Certificates.Acme.AcmeOptions acme, Certificates.CertificateSecrets secrets, Scaling.IReplicaProvider replicas, ILogger<AdminOperations> logger)
{
    public async Task<WriteResult<TenantResource>> PutTenant(Caller caller, string tenant, TenantSpec? spec, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant));
        caller.EnsureCanRead(tenant);
        caller.EnsureOperator("create or change a tenant (its host names and pool)");
        // Stored as compared: lower case, no trailing dot, IDNs as A-labels, each name once.
        // (An over-long list is left as it is, for the validator to refuse as sent.)
        if (spec?.Hostnames is { Count: <= ConfigValidator.MaxHosts } hosts)
            spec = spec with { Hostnames = [.. hosts.Select(h => h is null ? h! : HostNames.Normalize(h)).Distinct(StringComparer.Ordinal)] };
        Validate(ConfigValidator.Validate(spec));
        if (spec!.Hostnames.Count == 0)
            throw AdminException.Invalid("hostnames", "a tenant claims at least one host name (exact, or a *. wildcard).");
        var result = await Tenant(tenant).Put(spec, ifMatch);
        // A tenant created again under an old name never inherits keys its predecessor left behind.
        if (result.Created)
            await keys.DeleteTenantKeysAsync(tenant);
        return result;
    }

    public async Task<TenantResource> GetTenant(Caller caller, string tenant)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant));
        caller.EnsureCanRead(tenant);
        return await Tenant(tenant).Get() ?? throw AdminException.NotFound($"Tenant '{tenant}'");
    }

    /// <summary>The tenant with what it uses against each quota, and any host conflict it is part of.</summary>
    public async Task<TenantView> GetTenantView(Caller caller, string tenant)
    {
        var resource = await GetTenant(caller, tenant);
        var usage = await grains.GetGrain<IDistributionGrain>(resource.Spec.Pool).GetUsage(tenant);
        var conflicts = await grains.GetGrain<IHostRegistryGrain>(HostRegistry.Key).GetConflicts(tenant);
        var quotas = (resource.Spec.Quotas ?? new TenantQuotas()).Over(options.DefaultQuotas);
        IReadOnlyList<QuotaUse> use =
        [
            new("maxRoutes", quotas.MaxRoutes, usage.Routes),
            new("maxClusters", quotas.MaxClusters, usage.Clusters),
            new("maxBackends", quotas.MaxBackends, usage.Backends),
            new("maxHostnames", quotas.MaxHostnames, resource.Spec.Hostnames.Count),
            new("maxRequestBodyBytes", quotas.MaxRequestBodyBytes, null),
        ];
        return new TenantView(resource, use, [.. conflicts.Select(c => c.Describe())]);
    }

    public async Task<long> DeleteTenant(Caller caller, string tenant, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant));
        caller.EnsureCanRead(tenant);
        caller.EnsureOperator("delete a tenant");
        // Its certificates are removed with it (same change, see ResourceKindInfo.RemovedWithTenant); their grains
        // then forget them, ACME orders not issued yet included.
        var certificates = await CertificateIds(tenant);
        var revision = await Tenant(tenant).Delete(ifMatch);
        await keys.DeleteTenantKeysAsync(tenant);
        foreach (var certificate in certificates)
            await Certificate(tenant, certificate).Forget();
        return revision;
    }

    /// <summary>Every tenant for an operator; a tenant's key sees its own.</summary>
    public async Task<IReadOnlyList<TenantResource>> ListTenants(Caller caller) =>
        (await store.ListAsync(ResourceKind.Tenant, caller.IsOperator ? null : caller.Tenant ?? ""))
        .Select(e => new TenantResource(e.Key.Tenant, ConfigJson.Read<TenantSpec>(e.Json!), e.Revision))
        .ToList();

    /// <summary>Writes a cluster; what it was accepted with but warned about (<see cref="ConfigValidator.Warnings"/>) is logged and answered.</summary>
    public async Task<(WriteResult<ClusterResource> Result, IReadOnlyList<FieldError> Warnings)> PutCluster(Caller caller, string tenant, string cluster, ClusterSpec? spec, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster));
        caller.EnsureCanWrite(tenant);
        Validate(ConfigValidator.Validate(spec));
        var result = await Cluster(tenant, cluster).Put(spec!, ifMatch);
        var warnings = ConfigValidator.Warnings(result.Resource.Spec);
        foreach (var warning in warnings)
        {
            logger.LogWarning("Cluster {Tenant}/{Cluster} written at revision {Revision} by key {KeyId} with {Field}: {Warning}",
                tenant, cluster, result.Revision, caller.KeyId, warning.Field, warning.Message);
        }
        return (result, warnings);
    }

    public async Task<ClusterResource> GetCluster(Caller caller, string tenant, string cluster)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster));
        caller.EnsureCanRead(tenant);
        return await Cluster(tenant, cluster).Get() ?? throw AdminException.NotFound($"Cluster '{tenant}/{cluster}'");
    }

    public Task<long> DeleteCluster(Caller caller, string tenant, string cluster, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster));
        caller.EnsureCanWrite(tenant);
        return Cluster(tenant, cluster).Delete(ifMatch);
    }

    public Task<WriteResult<BackendResource>> PutBackend(Caller caller, string tenant, string cluster, string backend, BackendSpec? spec, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster), ConfigValidator.ValidateId("backend", backend));
        caller.EnsureCanWrite(tenant);
        Validate(ConfigValidator.Validate(spec));
        return Cluster(tenant, cluster).PutBackend(backend, spec!, ifMatch);
    }

    public async Task<BackendResource> GetBackend(Caller caller, string tenant, string cluster, string backend)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster), ConfigValidator.ValidateId("backend", backend));
        caller.EnsureCanRead(tenant);
        return await Cluster(tenant, cluster).GetBackend(backend) ?? throw AdminException.NotFound($"Backend '{tenant}/{cluster}/{backend}'");
    }

    public Task<long> DeleteBackend(Caller caller, string tenant, string cluster, string backend, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster), ConfigValidator.ValidateId("backend", backend));
        caller.EnsureCanWrite(tenant);
        return Cluster(tenant, cluster).DeleteBackend(backend, ifMatch);
    }

    public Task<IReadOnlyList<BackendResource>> ListBackends(Caller caller, string tenant, string cluster)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster));
        caller.EnsureCanRead(tenant);
        return Cluster(tenant, cluster).ListBackends();
    }

    /// <summary>One backend with its verdict, since when, and each reporting worker's view.</summary>
    public async Task<(BackendResource Backend, BackendHealthStatus Health)> GetBackendWithHealth(Caller caller, string tenant, string cluster, string backend)
    {
        var resource = await GetBackend(caller, tenant, cluster, backend);
        var status = (await grains.GetGrain<IHealthVerdictGrain>(GrainKeys.Of(tenant, cluster)).GetStatus()).FirstOrDefault(s => s.Backend == backend);
        return (resource, status ?? BackendHealthStatus.Unknown(backend));
    }

    /// <summary>The cluster's backends, each with its verdict, since when, and each reporting worker's view.</summary>
    public async Task<IReadOnlyList<(BackendResource Backend, BackendHealthStatus Health)>> ListBackendsWithHealth(Caller caller, string tenant, string cluster)
    {
        var backends = await ListBackends(caller, tenant, cluster);
        var statuses = (await grains.GetGrain<IHealthVerdictGrain>(GrainKeys.Of(tenant, cluster)).GetStatus())
            .ToDictionary(s => s.Backend, StringComparer.Ordinal);
        return backends.Select(b => (b, statuses.GetValueOrDefault(b.Backend) ?? BackendHealthStatus.Unknown(b.Backend))).ToList();
    }

    /// <summary>
    /// A backend's verdict changes, newest first: at most <paramref name="limit"/> (default 100, up to
    /// <see cref="HealthStore.MaxHistory"/>). The cluster must exist; the backend need not any more.
    /// </summary>
    public async Task<IReadOnlyList<VerdictChange>> HealthHistory(Caller caller, string tenant, string cluster, string backend, string? limit)
    {
        var count = 100;
        var limitErrors = new List<FieldError>();
        if (limit is not null && (!int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out count)
            || count < 1 || count > HealthStore.MaxHistory))
            limitErrors.Add(new FieldError("limit", $"'{limit}' is not a limit: expected a whole number from 1 to {HealthStore.MaxHistory}."));
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("cluster", cluster), ConfigValidator.ValidateId("backend", backend), limitErrors);
        await GetCluster(caller, tenant, cluster);
        return await health.HistoryAsync(tenant, cluster, backend, count);
    }

    public async Task<WriteResult<RouteResource>> PutRoute(Caller caller, string tenant, string route, RouteSpec? spec, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("route", route));
        caller.EnsureCanWrite(tenant);
        if (spec is not null)
            spec = Normalized(spec);
        Validate(ConfigValidator.Validate(spec));
        // The stored route is this spec, or one with the same JSON when unchanged.
        var (revision, created) = await Routes(tenant).Put(route, ConfigJson.Write(spec!), ifMatch);
        return new WriteResult<RouteResource>(new RouteResource(tenant, route, spec!, revision), revision, created);
    }

    /// <summary>A route as stored: its hosts as compared (lower case, no trailing dot, IDNs as A-labels).</summary>
    public static RouteSpec Normalized(RouteSpec spec) =>
        spec.Match?.Hosts is { } hosts
            ? spec with { Match = spec.Match with { Hosts = [.. hosts.Select(h => h is null ? h! : HostNames.Normalize(h))] } }
            : spec;

    public async Task<RouteResource> GetRoute(Caller caller, string tenant, string route)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("route", route));
        caller.EnsureCanRead(tenant);
        return await Routes(tenant).Get(route) ?? throw AdminException.NotFound($"Route '{tenant}/{route}'");
    }

    /// <summary>The tenant's committed routes that can take some of the same requests as the route (<see cref="Distribution.TenantOverlaps"/>).</summary>
    public async Task<RouteOverlapView[]> GetRouteOverlaps(Caller caller, string tenant, string route)
    {
        var resource = await GetTenant(caller, tenant);
        return await grains.GetGrain<IDistributionGrain>(resource.Spec.Pool).GetOverlaps(tenant, route);
    }

    public Task<long> DeleteRoute(Caller caller, string tenant, string route, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("route", route));
        caller.EnsureCanWrite(tenant);
        return Routes(tenant).Delete(route, ifMatch);
    }

    public async Task<IReadOnlyList<RouteResource>> ListRoutes(Caller caller, string tenant)
    {
        await GetTenant(caller, tenant);
        return (await store.ListAsync(ResourceKind.Route, tenant))
            .Select(e => new RouteResource(tenant, e.Key.Id, ConfigJson.Read<RouteSpec>(e.Json!), e.Revision))
            .ToList();
    }

    /// <summary>The tenant's traffic as its workers reported it; NotFound for an unknown tenant.</summary>
    public async Task<TenantTrafficReport> GetTenantMetrics(Caller caller, string tenant)
    {
        await GetTenant(caller, tenant);
        return await grains.GetGrain<ITenantMetricsGrain>(tenant).Get();
    }

    public async Task<WriteResult<PoolResource>> PutPool(Caller caller, string pool, PoolSpec? spec, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("pool", pool));
        caller.EnsureOperator("create or change a pool");
        Validate(ConfigValidator.Validate(spec));
        return await Pool(pool).Put(spec!, ifMatch);
    }

    /// <summary>Changes only the fields a JSON merge patch names (RFC 7396); a pool not yet written is patched from an empty body.</summary>
    public async Task<WriteResult<PoolResource>> PatchPool(Caller caller, string pool, string? mergePatch, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("pool", pool));
        caller.EnsureOperator("change a pool");
        if (string.IsNullOrWhiteSpace(mergePatch))
            throw AdminException.Invalid("", "A merge patch is required, e.g. {\"replicas\": 3}.");
        return await Pool(pool).Patch(mergePatch, ifMatch);
    }

    public async Task<PoolView> GetPool(Caller caller, string pool)
    {
        Validate(ConfigValidator.ValidateId("pool", pool));
        caller.EnsureOperator("read a pool");
        var resource = await Pool(pool).Get() ?? throw AdminException.NotFound($"Pool '{pool}'");
        var rollout = await Pool(pool).GetRollout(resource.Revision);
        return new PoolView(resource, rollout.Workers, await Scaling.PoolReplicas.ObserveAsync(pool, resource.Spec.Replicas, rollout.Workers, replicas, store));
    }

    public async Task<long> DeletePool(Caller caller, string pool, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("pool", pool));
        caller.EnsureOperator("delete a pool");
        return await Pool(pool).Delete(ifMatch);
    }

    /// <summary>Every pool, the default one included whether or not it was ever written.</summary>
    public async Task<IReadOnlyList<PoolResource>> ListPools(Caller caller)
    {
        caller.EnsureOperator("list pools");
        var pools = (await store.ListAsync(ResourceKind.Pool, ""))
            .Select(e => new PoolResource(e.Key.Id, ConfigJson.Read<PoolSpec>(e.Json!), e.Revision))
            .ToList();
        if (!pools.Any(p => p.Pool == Pools.Default))
            pools.Insert(0, (await Pool(Pools.Default).Get())!);
        return pools.OrderBy(p => p.Pool, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Stores an uploaded certificate once it passes <see cref="CertificateChecks"/> and each of its names
    /// is covered by one of the tenant's claims (checked again when the pool commits it).
    /// </summary>
    public async Task<WriteResult<CertificateView>> PutCertificate(Caller caller, string tenant, string certificate, CertificateSpec? spec, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("certificate", certificate));
        caller.EnsureCanWrite(tenant);
        if (spec is null)
            throw AdminException.Invalid("", "A certificate body is required: {\"certificate\", \"privateKey\"} or {\"acme\": {\"hosts\": [...]}}.");
        var owner = await GetTenant(caller, tenant);
        var claims = owner.Spec.Hostnames.Select(HostNames.Normalize).ToList();
        if (spec.Acme is { } order)
        {
            if (spec.Certificate is not null || spec.PrivateKey is not null)
                throw AdminException.Invalid("acme", "give either certificate and privateKey, or acme, not both.");
            if (acme.DirectoryUrl is null)
                throw AdminException.Invalid("acme", "this control plane orders no certificates: it has no Acme:DirectoryUrl.");
            if (!secrets.CanSeal)
                throw AdminException.Invalid("acme", "this control plane has no Secrets:Key to encrypt the certificate's private key with; an operator configures one.");
            // Stored as compared: lower case, no trailing dot, IDNs as A-labels.
            if (order.Hosts is { } hosts)
                order = order with { Hosts = [.. hosts.Select(h => h is null ? h! : HostNames.Normalize(h))] };
            Validate(ConfigValidator.Validate(order));
            Validate(CertificateNamesWithin(tenant, claims, order.Hosts, "acme.hosts"));
            return await Certificate(tenant, certificate).PutAcme(order.Hosts, ifMatch);
        }
        Validate(CertificateChecks.Check(spec.Certificate, spec.PrivateKey, clock.GetUtcNow(), out var checkedCertificate));
        Validate(CertificateNamesWithin(tenant, claims, checkedCertificate!.Bundle.Names, "certificate"));
        if (!secrets.CanSeal)
            throw AdminException.Invalid("privateKey", "this control plane has no Secrets:Key to encrypt private keys with, and stores none in clear; an operator configures one.");
        // Sealed here, so the key reaches the certificate's grain (perhaps on another silo) encrypted.
        var sealedCertificate = checkedCertificate with { Bundle = secrets.Sealed(ResourceKey.OfCertificate(tenant, certificate), checkedCertificate.Bundle) };
        return await Certificate(tenant, certificate).PutUploaded(sealedCertificate, ifMatch);
    }

    public async Task<CertificateView> GetCertificate(Caller caller, string tenant, string certificate)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("certificate", certificate));
        caller.EnsureCanRead(tenant);
        return await Certificate(tenant, certificate).Get() ?? throw AdminException.NotFound($"Certificate '{tenant}/{certificate}'");
    }

    public Task<long> DeleteCertificate(Caller caller, string tenant, string certificate, string? ifMatch)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant), ConfigValidator.ValidateId("certificate", certificate));
        caller.EnsureCanWrite(tenant);
        return Certificate(tenant, certificate).Delete(ifMatch);
    }

    /// <summary>The tenant's certificates, each as its own GET shows it.</summary>
    public async Task<IReadOnlyList<CertificateView>> ListCertificates(Caller caller, string tenant)
    {
        await GetTenant(caller, tenant);
        var views = new List<CertificateView>();
        foreach (var id in await CertificateIds(tenant))
        {
            if (await Certificate(tenant, id).Get() is { } view)
                views.Add(view);
        }
        return views;
    }

    /// <summary>A tenant's certificates: those committed, and ACME orders not issued yet (which have no row).</summary>
    private async Task<IReadOnlyList<string>> CertificateIds(string tenant)
    {
        var committed = (await store.ListAsync(ResourceKind.Certificate, tenant)).Select(r => r.Key.Id);
        var ordered = acme.DirectoryUrl is null ? [] : await grains.GetGrain<IAcmeScheduleGrain>(HostRegistry.Key).ListOf(tenant);
        return [.. committed.Union(ordered, StringComparer.Ordinal).Order(StringComparer.Ordinal)];
    }

    /// <summary>Each of a certificate's names must be covered by one of the tenant's claims.</summary>
    public static IReadOnlyList<FieldError> CertificateNamesWithin(string tenant, IReadOnlyList<string> claims, IReadOnlyList<string> names, string field) =>
        [.. names.Where(name => !claims.Any(claim => HostNames.Covers(claim, name)))
            .Select(name => new FieldError(field,
                $"'{name}' is not among tenant '{tenant}''s host names ({string.Join(", ", claims)}): a certificate names only hosts its tenant owns."))];

    private ICertificateGrain Certificate(string tenant, string certificate) => grains.GetGrain<ICertificateGrain>(GrainKeys.Of(tenant, certificate));
    private IDataPlanePoolGrain Pool(string pool) => grains.GetGrain<IDataPlanePoolGrain>(pool);
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

/// <summary>What a quota allows and what the tenant uses of it (null: unlimited, or not a count).</summary>
public sealed record QuotaUse(string Quota, long? Limit, long? Use);

/// <summary>A tenant as its GET shows it: its settings, its use beside each quota, and its host conflicts.</summary>
public sealed record TenantView(TenantResource Resource, IReadOnlyList<QuotaUse> Usage, IReadOnlyList<string> Conflicts);

/// <summary>A pool as its GET shows it: its settings and the workers it has.</summary>
public sealed record PoolView(PoolResource Resource, IReadOnlyList<DataPlaneStatus> Workers, Scaling.PoolReplicas Replicas);
