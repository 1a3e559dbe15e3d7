namespace ProxyPlatform.DataPlane.Routing;

/// <summary>
/// The worker's routing table: the tenant that owns the request's host, then that tenant's routes of
/// the host, then the longest path prefix, then the most constrained route, then priority. Immutable;
/// <see cref="With"/> and <see cref="WithClaims"/> make the next table by copying only the parts a
/// change touches, so a route change costs what it changes and not what the pool holds.
/// </summary>
/// <remarks>
/// The owner of a host is the tenant whose claim (<c>Tenant.hostnames</c>) covers it: an exact claim
/// first, then wildcard claims from the longest suffix (<c>a.b.example.com</c> tries
/// <c>*.b.example.com</c>, then <c>*.example.com</c>). A host nobody claims matches nothing, and a
/// request is matched against its owner's routes alone: nothing falls through to another tenant.
/// Within the owner the host is looked up exactly first, then by its wildcard suffixes from the
/// longest, so an exact host's routes that miss fall through to the same tenant's wildcard routes.
/// Within a host the path is looked up at each segment boundary from the longest: <c>/api/v1/x</c>
/// tries <c>/api/v1/x</c>, <c>/api/v1</c>, <c>/api</c>, <c>/</c>. Host names and paths compare
/// case-insensitively, as ASP.NET Core routing does.
/// </remarks>
public sealed class RouteTable
{
    public static RouteTable Empty { get; } = new(HostOwners.Empty, new(StringComparer.Ordinal), 0);

    private readonly HostOwners _owners;
    private readonly Dictionary<string, TenantRoutes> _tenants;

    private RouteTable(HostOwners owners, Dictionary<string, TenantRoutes> tenants, int count)
    {
        _owners = owners;
        _tenants = tenants;
        Count = count;
    }

    /// <summary>
    /// The claim of a tenant stored before every tenant had to claim a host (DESIGN.md, "Details"):
    /// it keeps being served, on the hosts no other tenant claims, until an operator gives it hosts.
    /// Its routes are kept under this host key.
    /// </summary>
    public const string UnclaimedHosts = "";

    /// <summary>How many routes the table holds.</summary>
    public int Count { get; }

    /// <summary>The tenants that claim at least one host name.</summary>
    public IEnumerable<string> ClaimingTenants => _owners.Tenants;

    public CompiledRoute? Match(HttpRequest request)
    {
        var host = request.Host.Host.AsSpan().TrimEnd('.');
        if (_owners.OwnerOf(host) is { } owner)
            return _tenants.TryGetValue(owner, out var routes) ? routes.Match(host, request.Path.Value, request) : null;
        return _owners.Unclaimed is { } legacy && _tenants.TryGetValue(legacy, out var unclaimed)
            ? unclaimed.Match(UnclaimedHosts, request.Path.Value, request)
            : null;
    }

    /// <summary>The tenant that owns <paramref name="host"/>, or null when no tenant claims it.</summary>
    public string? OwnerOf(ReadOnlySpan<char> host) => _owners.OwnerOf(host.TrimEnd('.')) ?? _owners.Unclaimed;

    /// <summary>
    /// The table with each tenant of <paramref name="claims"/> owning exactly the host names given
    /// (normalized; none: the tenant owns nothing).
    /// </summary>
    public RouteTable WithClaims(IReadOnlyDictionary<string, IReadOnlyList<string>> claims) =>
        claims.Count == 0 ? this : new RouteTable(_owners.With(claims), _tenants, Count);

    /// <summary>The table with <paramref name="removed"/> taken out and <paramref name="added"/> put in (a route both removed and added is replaced).</summary>
    public RouteTable With(IReadOnlyCollection<CompiledRoute> removed, IReadOnlyCollection<CompiledRoute> added)
    {
        if (removed.Count == 0 && added.Count == 0)
            return this;
        var byTenant = new Dictionary<string, (List<CompiledRoute> Removed, List<CompiledRoute> Added)>(StringComparer.Ordinal);
        foreach (var route in removed)
            Changes(byTenant, route.Id.Tenant).Removed.Add(route);
        foreach (var route in added)
            Changes(byTenant, route.Id.Tenant).Added.Add(route);

        var tenants = new Dictionary<string, TenantRoutes>(_tenants, StringComparer.Ordinal);
        foreach (var (tenant, (gone, come)) in byTenant)
        {
            var routes = (tenants.GetValueOrDefault(tenant) ?? TenantRoutes.Empty).With(gone, come);
            if (routes.IsEmpty)
                tenants.Remove(tenant);
            else
                tenants[tenant] = routes;
        }
        return new RouteTable(_owners, tenants, Count - removed.Count + added.Count);
    }

    private static (List<CompiledRoute> Removed, List<CompiledRoute> Added) Changes(
        Dictionary<string, (List<CompiledRoute>, List<CompiledRoute>)> byTenant, string tenant)
    {
        if (!byTenant.TryGetValue(tenant, out var changes))
            byTenant[tenant] = changes = ([], []);
        return changes;
    }

    /// <summary>Which tenant owns which host names: exact claims by name, wildcard claims by their suffix.</summary>
    private sealed class HostOwners
    {
        public static HostOwners Empty { get; } = new(new(StringComparer.OrdinalIgnoreCase), new(StringComparer.OrdinalIgnoreCase), new(StringComparer.Ordinal), null);

        private readonly Dictionary<string, string> _exact;
        private readonly Dictionary<string, string> _wildcard;
        private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _exactLookup;
        private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _wildcardLookup;
        /// <summary>Each tenant's claims, so that a change of them removes the old ones.</summary>
        private readonly Dictionary<string, IReadOnlyList<string>> _claims;

        private HostOwners(Dictionary<string, string> exact, Dictionary<string, string> wildcard, Dictionary<string, IReadOnlyList<string>> claims, string? unclaimed)
        {
            Unclaimed = unclaimed;
            _exact = exact;
            _wildcard = wildcard;
            _claims = claims;
            _exactLookup = exact.GetAlternateLookup<ReadOnlySpan<char>>();
            _wildcardLookup = wildcard.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        public IEnumerable<string> Tenants => _claims.Keys;

        /// <summary>The tenant (from older data, without host names) that serves hosts nobody claims; the first by ID if several.</summary>
        public string? Unclaimed { get; }

        public string? OwnerOf(ReadOnlySpan<char> host)
        {
            if (_exact.Count > 0 && _exactLookup.TryGetValue(host, out var owner))
                return owner;
            if (_wildcard.Count == 0)
                return null;
            for (var dot = host.IndexOf('.'); dot >= 0;)
            {
                var suffix = host[dot..];
                if (_wildcardLookup.TryGetValue(suffix, out owner))
                    return owner;
                var next = suffix[1..].IndexOf('.');
                dot = next < 0 ? -1 : dot + 1 + next;
            }
            return null;
        }

        /// <summary>
        /// The owners after <paramref name="changes"/>, rebuilt from every tenant's claims (tenant
        /// changes are rare). Should existing data give one host two owners, the tenant whose ID sorts
        /// first keeps it, so every worker agrees (the control plane reports the conflict).
        /// </summary>
        public HostOwners With(IReadOnlyDictionary<string, IReadOnlyList<string>> changes)
        {
            var claims = new Dictionary<string, IReadOnlyList<string>>(_claims, StringComparer.Ordinal);
            foreach (var (tenant, hosts) in changes)
            {
                if (hosts.Count == 0)
                    claims.Remove(tenant);
                else
                    claims[tenant] = hosts;
            }
            var exact = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            var wildcard = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            string? unclaimed = null;
            foreach (var tenant in claims.Keys.Order(StringComparer.Ordinal))
            {
                foreach (var host in claims[tenant])
                {
                    if (host == UnclaimedHosts)
                    {
                        unclaimed ??= tenant;
                        continue;
                    }
                    var (map, key) = Place(exact, wildcard, host);
                    map.TryAdd(key, tenant);
                }
            }
            return new HostOwners(exact, wildcard, claims, unclaimed);
        }

        private static (Dictionary<string, string> Map, string Key) Place(Dictionary<string, string> exact, Dictionary<string, string> wildcard, string host) =>
            host.StartsWith("*.", StringComparison.Ordinal) ? (wildcard, host[1..]) : (exact, host);
    }

    /// <summary>One tenant's routes, by host key: exact names, and wildcards by their suffix.</summary>
    private sealed class TenantRoutes
    {
        public static TenantRoutes Empty { get; } = new(new(StringComparer.OrdinalIgnoreCase), new(StringComparer.OrdinalIgnoreCase));

        private readonly Dictionary<string, PathTable> _exact;
        private readonly Dictionary<string, PathTable> _wildcard;
        private readonly Dictionary<string, PathTable>.AlternateLookup<ReadOnlySpan<char>> _exactLookup;
        private readonly Dictionary<string, PathTable>.AlternateLookup<ReadOnlySpan<char>> _wildcardLookup;

        private TenantRoutes(Dictionary<string, PathTable> exact, Dictionary<string, PathTable> wildcard)
        {
            _exact = exact;
            _wildcard = wildcard;
            _exactLookup = exact.GetAlternateLookup<ReadOnlySpan<char>>();
            _wildcardLookup = wildcard.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        public bool IsEmpty => _exact.Count == 0 && _wildcard.Count == 0;

        public CompiledRoute? Match(ReadOnlySpan<char> host, string? path, HttpRequest request)
        {
            if (_exact.Count > 0 && _exactLookup.TryGetValue(host, out var exact) && exact.Match(path, request) is { } byHost)
                return byHost;
            if (_wildcard.Count == 0)
                return null;
            // "*.example.com" is kept under ".example.com": try every suffix that starts at a dot.
            for (var dot = host.IndexOf('.'); dot >= 0;)
            {
                var suffix = host[dot..];
                if (_wildcardLookup.TryGetValue(suffix, out var wildcard) && wildcard.Match(path, request) is { } bySuffix)
                    return bySuffix;
                var next = suffix[1..].IndexOf('.');
                dot = next < 0 ? -1 : dot + 1 + next;
            }
            return null;
        }

        public TenantRoutes With(List<CompiledRoute> removed, List<CompiledRoute> added)
        {
            // Group the change by the host key it touches, so each touched part is copied once.
            var touched = new Dictionary<(bool Wildcard, string Key), (List<CompiledRoute> Removed, List<CompiledRoute> Added)>();
            foreach (var route in removed)
            {
                foreach (var key in HostKeys(route))
                    Changes(touched, key).Removed.Add(route);
            }
            foreach (var route in added)
            {
                foreach (var key in HostKeys(route))
                    Changes(touched, key).Added.Add(route);
            }
            if (touched.Count == 0)
                return this;

            Dictionary<string, PathTable>? exact = null, wildcard = null;
            foreach (var ((isWildcard, key), (gone, come)) in touched)
            {
                if (isWildcard)
                {
                    wildcard ??= new Dictionary<string, PathTable>(_wildcard, StringComparer.OrdinalIgnoreCase);
                    Replace(wildcard, key, gone, come);
                }
                else
                {
                    exact ??= new Dictionary<string, PathTable>(_exact, StringComparer.OrdinalIgnoreCase);
                    Replace(exact, key, gone, come);
                }
            }
            return new TenantRoutes(exact ?? _exact, wildcard ?? _wildcard);
        }

        private static void Replace(Dictionary<string, PathTable> tables, string key, List<CompiledRoute> removed, List<CompiledRoute> added)
        {
            var table = (tables.GetValueOrDefault(key) ?? PathTable.Empty).With(removed, added);
            if (table.IsEmpty)
                tables.Remove(key);
            else
                tables[key] = table;
        }

        private static (List<CompiledRoute> Removed, List<CompiledRoute> Added) Changes(
            Dictionary<(bool, string), (List<CompiledRoute>, List<CompiledRoute>)> touched, (bool, string) key)
        {
            if (!touched.TryGetValue(key, out var changes))
                touched[key] = changes = ([], []);
            return changes;
        }

        /// <summary>A route's host keys; a route without hosts (its tenant claims none) has none and matches nothing.</summary>
        private static IEnumerable<(bool, string)> HostKeys(CompiledRoute route)
        {
            foreach (var host in route.Hosts)
                yield return host.StartsWith("*.", StringComparison.Ordinal) ? (true, host[1..]) : (false, host);
        }
    }

    /// <summary>The routes of one host key, by path prefix; each prefix's routes in the order they are tried.</summary>
    private sealed class PathTable
    {
        public static PathTable Empty { get; } = new(new(StringComparer.OrdinalIgnoreCase));

        private readonly Dictionary<string, CompiledRoute[]> _byPrefix;
        private readonly Dictionary<string, CompiledRoute[]>.AlternateLookup<ReadOnlySpan<char>> _lookup;

        private PathTable(Dictionary<string, CompiledRoute[]> byPrefix)
        {
            _byPrefix = byPrefix;
            _lookup = byPrefix.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        public bool IsEmpty => _byPrefix.Count == 0;

        public CompiledRoute? Match(string? requestPath, HttpRequest request)
        {
            if (_byPrefix.Count == 0)
                return null;
            var path = (requestPath ?? "").AsSpan().TrimEnd('/');
            while (true)
            {
                var key = path.Length == 0 ? "/" : path;
                if (_lookup.TryGetValue(key, out var routes))
                {
                    foreach (var route in routes)
                    {
                        if (route.MatchesRequest(request))
                            return route;
                    }
                }
                if (path.Length == 0)
                    return null;
                path = path[..path.LastIndexOf('/')];
            }
        }

        public PathTable With(List<CompiledRoute> removed, List<CompiledRoute> added)
        {
            var byPrefix = new Dictionary<string, CompiledRoute[]>(_byPrefix, StringComparer.OrdinalIgnoreCase);
            foreach (var route in removed)
            {
                if (!byPrefix.TryGetValue(route.Prefix, out var routes))
                    continue;
                var kept = Array.FindAll(routes, r => r.Id != route.Id);
                if (kept.Length == 0)
                    byPrefix.Remove(route.Prefix);
                else
                    byPrefix[route.Prefix] = kept;
            }
            foreach (var route in added)
            {
                var routes = byPrefix.GetValueOrDefault(route.Prefix) ?? [];
                var next = new CompiledRoute[routes.Length + 1];
                routes.CopyTo(next, 0);
                next[^1] = route;
                Array.Sort(next, CompiledRoute.MatchOrder);
                byPrefix[route.Prefix] = next;
            }
            return new PathTable(byPrefix);
        }
    }
}
