using ProxyPlatform.Configuration;
using ProxyPlatform.Resources;
using ProxyPlatform.Routing;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// The tenancy invariants a pool's changes must keep (DESIGN.md, "Tenancy"): a route's hosts lie
/// within its tenant's claims, nothing exceeds its tenant's quotas or its pool's limits, and neither
/// claims nor quotas nor limits shrink below what is stored. Checked over the committed set as the
/// batch's earlier changes leave it, so two changes of one batch cannot both take the last unit of a quota.
/// </summary>
/// <param name="pool">The pool's ID.</param>
/// <param name="committed">The pool's committed set and its <see cref="TenancyIndex"/>.</param>
/// <param name="defaults">The quotas of a tenant that sets none (<c>Tenancy:Quotas:*</c>); null: unlimited.</param>
/// <param name="current">A resource's entry as the batch leaves it (staged, else committed), removals included.</param>
/// <param name="overlapAnalysis">
/// Refuse a change that leaves a route of its tenant fully shadowed (DESIGN.md, "Details: Shadowing"),
/// unless that route allows it (<c>Routing:OverlapAnalysis</c>, on by default in the control plane).
/// </param>
/// <param name="clock">Judges certificates' expiry; the system's clock unless a test gives one.</param>
public sealed class TenancyRules(string pool, ConfigSet committed, TenantQuotas? defaults, Func<ResourceKey, ConfigEntry?> current, bool overlapAnalysis = false, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    // What the batch's accepted changes add to each tenant's use.
    private readonly Dictionary<string, TenantUsage> _staged = new(StringComparer.Ordinal);
    // The batch's accepted route changes, over the committed routes: each tenant's routes written, and every route key changed.
    private readonly Dictionary<string, RouteIndex> _stagedRoutes = new(StringComparer.Ordinal);
    private readonly HashSet<ResourceKey> _stagedRouteKeys = [];
    // The route changes of the change last checked, for Accept.
    private List<(ResourceKey Key, RouteRules? Rules, bool AllowShadowed)> _checkedRoutes = [];

    private TenancyIndex Index => committed.Tenancy;

    /// <summary>
    /// Throws when the change (already staged, so <c>current</c> sees it) breaks a rule; returns what it
    /// adds to each tenant's use, for <see cref="Accept"/> once the whole change is staged.
    /// </summary>
    /// <param name="previous">A key's entry before this change.</param>
    public Dictionary<string, TenantUsage> Check(IReadOnlyList<ConfigEntry> change, Func<ResourceKey, ConfigEntry?> previous)
    {
        var added = new Dictionary<string, TenantUsage>(StringComparer.Ordinal);
        foreach (var entry in change)
        {
            var key = entry.Key;
            if (key.Kind is ResourceKind.Route or ResourceKind.Cluster)
                added[key.Tenant] = Plus(added.GetValueOrDefault(key.Tenant) ?? new TenantUsage(), UsageOf(entry), UsageOf(previous(key)), -1);
            if (entry.IsRemoval)
            {
                if (key.Kind == ResourceKind.Pool)
                    CheckPoolRemoval(key);
                else if (key.Kind == ResourceKind.Certificate)
                    CheckCertificateRemoval(key);
                continue;
            }
            switch (key.Kind)
            {
                case ResourceKind.Tenant:
                    CheckTenant(key.Tenant, ConfigJson.Read<TenantSpec>(entry.Json!), previous(key) is { IsRemoval: false });
                    break;
                case ResourceKind.Pool:
                    CheckPool(ConfigJson.Read<PoolSpec>(entry.Json!));
                    break;
                case ResourceKind.Route:
                    CheckRoute(key, ConfigJson.Read<RouteSpec>(entry.Json!));
                    break;
                case ResourceKind.Cluster:
                    var cluster = ConfigJson.Read<ClusterDefinition>(entry.Json!);
                    Refuse(PoolLimitsCheck.Check(cluster, PoolSpec()?.Limits));
                    CheckClientCertificate(key, cluster.Spec?.Tls);
                    break;
                case ResourceKind.Certificate:
                    CheckCertificate(key, ConfigJson.Read<CertificateBundle>(entry.Json!));
                    break;
            }
        }
        foreach (var (tenant, more) in added)
            CheckQuotas(tenant, more);
        _checkedRoutes = [];
        if (overlapAnalysis)
            CheckShadowing(change);
        return added;
    }

    /// <summary>Counts a checked change's use towards the batch's later changes.</summary>
    public void Accept(Dictionary<string, TenantUsage> added)
    {
        foreach (var (tenant, more) in added)
            _staged[tenant] = Plus(_staged.GetValueOrDefault(tenant) ?? new TenantUsage(), more, new TenantUsage(), 1);
        foreach (var (key, rules, allowShadowed) in _checkedRoutes)
        {
            _stagedRouteKeys.Add(key);
            if (!_stagedRoutes.TryGetValue(key.Tenant, out var routes))
                _stagedRoutes[key.Tenant] = routes = new RouteIndex();
            if (rules is null)
                routes.Remove(key.QualifiedId);
            else
                routes.Put(rules, allowShadowed);
        }
        _checkedRoutes = [];
    }

    /// <summary>
    /// Refuses a change that leaves a route of its tenant fully shadowed: a route it writes, or one of
    /// the tenant's routes that a route it writes would hide (and that was not hidden before), unless
    /// that route allows it. Looks only at the routes under the written routes' host keys and prefixes
    /// (<see cref="RouteOverlaps"/>), so a write costs what it touches, not what the tenant holds.
    /// </summary>
    private void CheckShadowing(IReadOnlyList<ConfigEntry> change)
    {
        var changed = new HashSet<ResourceKey>();
        var writtenByTenant = new Dictionary<string, RouteIndex>(StringComparer.Ordinal);
        foreach (var entry in change)
        {
            if (entry.Key.Kind != ResourceKind.Route)
                continue;
            changed.Add(entry.Key);
            if (entry.IsRemoval)
            {
                _checkedRoutes.Add((entry.Key, null, false));
                continue;
            }
            var spec = ConfigJson.Read<RouteSpec>(entry.Json!);
            var rules = RouteRules.Of(entry.Key, spec, TenantSpec(entry.Key.Tenant)?.Hostnames ?? []);
            if (!writtenByTenant.TryGetValue(entry.Key.Tenant, out var written))
                writtenByTenant[entry.Key.Tenant] = written = new RouteIndex();
            written.Put(rules, spec.AllowShadowed);
            _checkedRoutes.Add((entry.Key, rules, spec.AllowShadowed));
        }
        foreach (var (tenant, written) in writtenByTenant)
        {
            var committedRoutes = Index.RoutesOf(tenant);
            var staged = _stagedRoutes.GetValueOrDefault(tenant);
            // The tenant's routes under a host key with a prefix, as the batch left them before this change, and after it.
            IEnumerable<RouteRules> Before(string host, string prefix) =>
                (committedRoutes?.At(host, prefix) ?? []).Where(r => !_stagedRouteKeys.Contains(r.Id)).Concat(staged?.At(host, prefix) ?? []);
            IEnumerable<RouteRules> After(string host, string prefix) =>
                Before(host, prefix).Where(r => !changed.Contains(r.Id)).Concat(written.At(host, prefix));
            bool AllowsShadowing(RouteRules route) =>
                staged?.Get(route.Name) is not null ? staged.AllowsShadowing(route.Name) : committedRoutes?.AllowsShadowing(route.Name) ?? false;

            foreach (var route in written.Routes)
            {
                if (!written.AllowsShadowing(route.Name) && RouteOverlaps.ShadowedBy(route, After) is { Count: > 0 } shadowers)
                    throw AdminException.Shadowed(route.Name, [.. shadowers.Select(r => r.Name)], route.Name);
                foreach (var host in route.Hosts)
                {
                    foreach (var other in After(host, route.Prefix))
                    {
                        if (changed.Contains(other.Id) || RouteRules.Compare(route, other) >= 0 || AllowsShadowing(other))
                            continue;
                        if (RouteOverlaps.ShadowedBy(other, After) is { Count: > 0 } hiders && RouteOverlaps.ShadowedBy(other, Before).Count == 0)
                            throw AdminException.Shadowed(other.Name, [.. hiders.Select(r => r.Name)], route.Name);
                    }
                }
            }
        }
    }

    /// <summary>What the tenant stores as the batch leaves it.</summary>
    private TenantUsage UseOf(string tenant) =>
        Plus(Index.UsageOf(tenant), _staged.GetValueOrDefault(tenant) ?? new TenantUsage(), new TenantUsage(), 1);

    private TenantQuotas QuotasOf(TenantSpec spec) => (spec.Quotas ?? new TenantQuotas()).Over(defaults ?? new TenantQuotas());

    private TenantSpec? TenantSpec(string tenant) =>
        current(ResourceKey.OfTenant(tenant)) is { Json: { } json } entry && !ReferenceEquals(entry, committed.Get(entry.Key))
            ? ConfigJson.Read<TenantSpec>(json)
            : Index.Tenant(tenant);

    private PoolSpec? PoolSpec()
    {
        var entry = current(ResourceKey.OfPool(pool));
        return entry is null || ReferenceEquals(entry, committed.Get(entry.Key)) ? Index.Pool
            : entry.Json is { } json ? ConfigJson.Read<PoolSpec>(json) : null;
    }

    private void CheckQuotas(string tenant, TenantUsage more)
    {
        if (TenantSpec(tenant) is not { } spec)
            return;
        var quotas = QuotasOf(spec);
        var use = UseOf(tenant);
        Quota("maxRoutes", quotas.MaxRoutes, use.Routes, more.Routes);
        Quota("maxClusters", quotas.MaxClusters, use.Clusters, more.Clusters);
        Quota("maxBackends", quotas.MaxBackends, use.Backends, more.Backends);

        void Quota(string name, int? limit, int now, int adds)
        {
            // A change that does not add to a count passes even over the quota: it never makes things worse.
            if (limit is { } max && adds > 0 && now + adds > max)
                throw AdminException.QuotaExceeded(tenant, new QuotaExcess(name, max, now));
        }
    }

    private void CheckRoute(ResourceKey key, RouteSpec route)
    {
        var spec = TenantSpec(key.Tenant)!;
        var claims = spec.Hostnames.Select(HostNames.Normalize).ToList();
        var facts = RouteFacts.Of(route);
        var errors = new List<FieldError>();
        for (var i = 0; i < facts.Hosts.Length; i++)
        {
            if (!claims.Any(c => HostNames.Covers(c, facts.Hosts[i])))
                errors.Add(new FieldError($"match.hosts[{i}]",
                    $"'{facts.Hosts[i]}' is not among tenant '{key.Tenant}''s host names ({string.Join(", ", claims)}); an operator adds host names to the tenant."));
        }
        Refuse(errors);
        foreach (var host in facts.Hosts.Length > 0 ? facts.Hosts : [.. claims])
        {
            if (Index.OtherClaimants(key.Tenant, host).Order(StringComparer.Ordinal).ToList() is { Count: > 0 } others)
                throw AdminException.Conflict(
                    $"Host '{host}' of route '{key.QualifiedId}' is also claimed by tenant(s) {string.Join(", ", others)}, from before one owner per host was enforced; " +
                    "an operator must give the host to one tenant before routes on it change.");
        }
        if (QuotasOf(spec).MaxRequestBodyBytes is { } max && route.MaxRequestBodyBytes > max)
            throw AdminException.QuotaExceeded(key.Tenant, new QuotaExcess("maxRequestBodyBytes", max, route.MaxRequestBodyBytes.Value));
        Refuse(PoolLimitsCheck.Check(route, PoolSpec()?.Limits));
    }

    /// <summary>Each of a certificate's names is covered by one of its tenant's claims, and by no other tenant's.</summary>
    private void CheckCertificate(ResourceKey key, CertificateBundle certificate)
    {
        var claims = TenantSpec(key.Tenant)!.Hostnames.Select(HostNames.Normalize).ToList();
        var errors = new List<FieldError>();
        foreach (var name in certificate.Names.Where(n => !claims.Any(c => HostNames.Covers(c, n))))
            errors.Add(new FieldError("certificate", $"'{name}' is not among tenant '{key.Tenant}''s host names ({string.Join(", ", claims)}): a certificate names only hosts its tenant owns."));
        Refuse(errors);
        foreach (var name in certificate.Names)
        {
            if (Index.OtherClaimants(key.Tenant, name).Order(StringComparer.Ordinal).ToList() is { Count: > 0 } others)
                throw AdminException.Conflict(
                    $"Host '{name}' of certificate '{key.QualifiedId}' is also claimed by tenant(s) {string.Join(", ", others)}, from before one owner per host was enforced; " +
                    "an operator must give the host to one tenant first.");
        }
    }

    /// <summary>
    /// A cluster's <c>tls.clientCertificate</c> names a certificate of the cluster's own tenant that holds a
    /// private key and has not expired: what the worker could not present is refused when written.
    /// </summary>
    private void CheckClientCertificate(ResourceKey cluster, BackendTlsSpec? tls)
    {
        if (tls?.ClientCertificate is not { } id)
            return;
        const string field = "tls.clientCertificate";
        if (current(ResourceKey.OfCertificate(cluster.Tenant, id)) is not { Json: { } json })
            throw AdminException.Invalid(field, $"'{id}' is not a certificate of tenant '{cluster.Tenant}': upload it (or wait for its ACME order to be issued) first.");
        var certificate = ConfigJson.Read<CertificateBundle>(json);
        if (string.IsNullOrEmpty(certificate.PrivateKey))
            throw AdminException.Invalid(field, $"certificate '{id}' holds no private key, so it cannot authenticate the worker to a backend.");
        if (certificate.NotAfter <= _clock.GetUtcNow())
            throw AdminException.Invalid(field, $"certificate '{id}' expired at {certificate.NotAfter:O}.");
    }

    /// <summary>A certificate a cluster presents to its backends stays until no cluster names it.</summary>
    private void CheckCertificateRemoval(ResourceKey certificate)
    {
        // Certificates are rarely removed: a scan of the tenant's clusters costs nothing that matters.
        foreach (var (cluster, _) in Index.Clusters)
        {
            if (cluster.Tenant != certificate.Tenant || current(cluster) is not { Json: { } json })
                continue;
            if (ConfigJson.Read<ClusterDefinition>(json).Spec?.Tls?.ClientCertificate == certificate.Id)
                throw AdminException.Conflict($"Certificate '{certificate.QualifiedId}' is the client certificate of cluster '{cluster.QualifiedId}' (its tls.clientCertificate); change that cluster first.");
        }
    }

    /// <summary>New claims and quotas must still hold everything the tenant stores.</summary>
    private void CheckTenant(string tenant, TenantSpec spec, bool existed)
    {
        var quotas = QuotasOf(spec);
        if (quotas.MaxHostnames is { } maxHosts && spec.Hostnames.Count > maxHosts)
            throw AdminException.QuotaExceeded(tenant, new QuotaExcess("maxHostnames", maxHosts, Index.Tenant(tenant)?.Hostnames.Count ?? 0));
        if (!existed)
            return;
        var use = UseOf(tenant);
        var over = new List<string>();
        if (quotas.MaxRoutes < use.Routes)
            over.Add($"maxRoutes {quotas.MaxRoutes} is below its {use.Routes} routes");
        if (quotas.MaxClusters < use.Clusters)
            over.Add($"maxClusters {quotas.MaxClusters} is below its {use.Clusters} clusters");
        if (quotas.MaxBackends < use.Backends)
            over.Add($"maxBackends {quotas.MaxBackends} is below its {use.Backends} backends");
        var claims = spec.Hostnames.Select(HostNames.Normalize).ToList();
        foreach (var (route, facts) in Index.Routes)
        {
            if (route.Tenant != tenant || over.Count >= 10)
                continue;
            foreach (var host in facts.Hosts.Where(h => !claims.Any(c => HostNames.Covers(c, h))))
                over.Add($"route '{route.Id}' uses host '{host}', which the new host names leave out");
            if (quotas.MaxRequestBodyBytes is { } max && facts.MaxRequestBodyBytes > max)
                over.Add($"route '{route.Id}' allows {facts.MaxRequestBodyBytes}-byte bodies, more than maxRequestBodyBytes {max}");
        }
        foreach (var (certificate, names) in Index.Certificates)
        {
            if (certificate.Tenant != tenant || over.Count >= 10)
                continue;
            foreach (var name in names.Where(n => !claims.Any(c => HostNames.Covers(c, n))))
                over.Add($"certificate '{certificate.Id}' names host '{name}', which the new host names leave out");
        }
        if (over.Count > 0)
            throw AdminException.Conflict($"Tenant '{tenant}' cannot take these settings: {string.Join("; ", over)}. Change those first.");
    }

    /// <summary>New limits must still hold every resource of the pool.</summary>
    private void CheckPool(PoolSpec spec)
    {
        var over = new List<string>();
        foreach (var (route, facts) in Index.Routes)
        {
            if (spec.Limits?.MaxRequestBodyBytes is { } max && facts.MaxRequestBodyBytes > max && over.Count < 10)
                over.Add($"route '{route.QualifiedId}' allows {facts.MaxRequestBodyBytes}-byte bodies, more than {max}");
        }
        foreach (var (cluster, backends) in Index.Clusters)
        {
            foreach (var (id, backend) in backends)
            {
                if (over.Count < 10 && PoolLimitsCheck.Check(backend, spec.Limits).Count > 0)
                    over.Add($"backend '{cluster.QualifiedId}/{id}' addresses {backend.Address}, outside the allowed networks");
            }
        }
        if (over.Count > 0)
            throw AdminException.Conflict($"The pool's limits cannot shrink below what it serves: {string.Join("; ", over)}. Change those first.");
    }

    private void CheckPoolRemoval(ResourceKey key)
    {
        var tenants = Index.Tenants.Where(t => current(ResourceKey.OfTenant(t)) is { IsRemoval: false }).Order(StringComparer.Ordinal).Take(10).ToList();
        if (tenants.Count > 0)
            throw AdminException.Conflict($"Pool '{key.Id}' still serves tenant(s) {string.Join(", ", tenants)}; move or delete them first.");
    }

    private TenantUsage UsageOf(ConfigEntry? entry) => entry switch
    {
        null or { IsRemoval: true } => new TenantUsage(),
        { Key.Kind: ResourceKind.Route } => new TenantUsage { Routes = 1 },
        { Key.Kind: ResourceKind.Cluster } => new TenantUsage
        {
            Clusters = 1,
            Backends = ReferenceEquals(entry, committed.Get(entry.Key))
                ? Index.Backends(entry.Key)?.Count ?? 0
                : ConfigJson.Read<ClusterDefinition>(entry.Json!).Backends.Count,
        },
        _ => new TenantUsage(),
    };

    private static TenantUsage Plus(TenantUsage a, TenantUsage b, TenantUsage c, int sign) => new()
    {
        Routes = a.Routes + b.Routes + sign * c.Routes,
        Clusters = a.Clusters + b.Clusters + sign * c.Clusters,
        Backends = a.Backends + b.Backends + sign * c.Backends,
    };

    private static void Refuse(IReadOnlyList<FieldError> errors)
    {
        if (errors.Count > 0)
            throw AdminException.Invalid(errors);
    }
}
