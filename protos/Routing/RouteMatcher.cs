namespace ProxyPlatform.Routing;

/// <summary>What every <see cref="RouteMatcher{TRoute}"/> shares.</summary>
public static class RouteMatcher
{
    /// <summary>
    /// The claim of a tenant stored before every tenant had to claim a host (DESIGN.md, "Details"):
    /// it keeps being served, on the hosts no other tenant claims, until an operator gives it hosts.
    /// Its routes are kept under this host key.
    /// </summary>
    public const string UnclaimedHosts = "";
}

/// <summary>Why a route was tried for a request, and whether it took it (<see cref="RouteMatcher{TRoute}.Match{TRequest}(TRequest, List{RouteAttempt{TRoute}})"/>).</summary>
/// <param name="HostKey">The host key the route was found under: the exact host, or <c>*.suffix</c>.</param>
/// <param name="Accepted">The route's methods and headers admit the request; the first accepted attempt is the match.</param>
public readonly record struct RouteAttempt<TRoute>(TRoute Route, string HostKey, bool Accepted);

/// <summary>
/// The one implementation of the matching rules: the tenant that owns the request's host, then that
/// tenant's routes of the host, then the longest path prefix, then the most constrained route, then
/// priority. The worker's route table is one (of its compiled routes), and the control plane's overlap
/// analysis and "explain" use one (of <see cref="RouteRules"/>), so the two cannot disagree. Immutable;
/// <see cref="With"/> and <see cref="WithClaims"/> make the next matcher by copying only the parts a
/// change touches, so a route change costs what it changes and not what the matcher holds.
/// </summary>
/// <remarks>
/// The owner of a host is the tenant whose claim (<c>Tenant.hostnames</c>) covers it: an exact claim
/// first, then wildcard claims from the longest suffix (<c>a.b.example.com</c> tries
/// <c>*.b.example.com</c>, then <c>*.example.com</c>). A host nobody claims matches nothing, and a
/// request is matched against its owner's routes alone: nothing falls through to another tenant.
/// Within the owner the host is looked up exactly first, then by its wildcard suffixes from the
/// longest, so an exact host's routes that miss fall through to the same tenant's wildcard routes.
/// Within a host the path is looked up at each segment boundary from the longest: <c>/api/v1/x</c>
/// tries <c>/api/v1/x</c>, <c>/api/v1</c>, <c>/api</c>, <c>/</c>. Within a prefix the routes are tried
/// in <see cref="RouteRules.MatchOrder"/>. Host names and paths compare case-insensitively, as ASP.NET
/// Core routing does.
/// </remarks>
public sealed class RouteMatcher<TRoute> where TRoute : RouteRules
{
    public static RouteMatcher<TRoute> Empty { get; } = new(HostOwners.Empty, new(StringComparer.Ordinal), 0);

    private readonly HostOwners _owners;
    private readonly Dictionary<string, TenantRoutes> _tenants;

    private RouteMatcher(HostOwners owners, Dictionary<string, TenantRoutes> tenants, int count)
    {
        _owners = owners;
        _tenants = tenants;
        Count = count;
    }

    /// <summary>How many routes the matcher holds.</summary>
    public int Count { get; }

    /// <summary>The tenants that claim at least one host name.</summary>
    public IEnumerable<string> ClaimingTenants => _owners.Tenants;

    /// <summary>The route that takes <paramref name="request"/>, or null.</summary>
    public TRoute? Match<TRequest>(TRequest request) where TRequest : IRouteRequest => Match(request, null);

    /// <summary>
    /// The route that takes <paramref name="request"/>, or null; with <paramref name="attempts"/>, every
    /// route the rules look at for it, in the order they are tried (those after the match included).
    /// </summary>
    public TRoute? Match<TRequest>(TRequest request, List<RouteAttempt<TRoute>>? attempts) where TRequest : IRouteRequest
    {
        var host = request.Host.AsSpan().TrimEnd('.');
        if (_owners.OwnerOf(host) is { } owner)
            return _tenants.TryGetValue(owner, out var routes) ? routes.Match(host, request, attempts) : null;
        return _owners.Unclaimed is { } legacy && _tenants.TryGetValue(legacy, out var unclaimed)
            ? unclaimed.Match(RouteMatcher.UnclaimedHosts, request, attempts)
            : null;
    }

    /// <summary>The tenant that owns <paramref name="host"/>, or null when no tenant claims it.</summary>
    public string? OwnerOf(ReadOnlySpan<char> host) => _owners.OwnerOf(host.TrimEnd('.')) ?? _owners.Unclaimed;

    /// <summary>
    /// The matcher with each tenant of <paramref name="claims"/> owning exactly the host names given
    /// (normalized; none: the tenant owns nothing).
    /// </summary>
    public RouteMatcher<TRoute> WithClaims(IReadOnlyDictionary<string, IReadOnlyList<string>> claims) =>
        claims.Count == 0 ? this : new RouteMatcher<TRoute>(_owners.With(claims), _tenants, Count);

    /// <summary>The matcher with <paramref name="removed"/> taken out and <paramref name="added"/> put in (a route both removed and added is replaced).</summary>
    public RouteMatcher<TRoute> With(IReadOnlyCollection<TRoute> removed, IReadOnlyCollection<TRoute> added)
    {
        if (removed.Count == 0 && added.Count == 0)
            return this;
        var byTenant = new Dictionary<string, (List<TRoute> Removed, List<TRoute> Added)>(StringComparer.Ordinal);
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
        return new RouteMatcher<TRoute>(_owners, tenants, Count - removed.Count + added.Count);
    }

    private static (List<TRoute> Removed, List<TRoute> Added) Changes(
        Dictionary<string, (List<TRoute>, List<TRoute>)> byTenant, string tenant)
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
                    if (host == RouteMatcher.UnclaimedHosts)
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

        public TRoute? Match<TRequest>(ReadOnlySpan<char> host, TRequest request, List<RouteAttempt<TRoute>>? attempts) where TRequest : IRouteRequest
        {
            TRoute? match = null;
            if (_exact.Count > 0 && _exactLookup.TryGetValue(host, out var exact))
            {
                match = exact.Match(request, attempts, match);
                if (match is not null && attempts is null)
                    return match;
            }
            if (_wildcard.Count == 0)
                return match;
            // "*.example.com" is kept under ".example.com": try every suffix that starts at a dot.
            for (var dot = host.IndexOf('.'); dot >= 0;)
            {
                var suffix = host[dot..];
                if (_wildcardLookup.TryGetValue(suffix, out var wildcard))
                {
                    match = wildcard.Match(request, attempts, match);
                    if (match is not null && attempts is null)
                        return match;
                }
                var next = suffix[1..].IndexOf('.');
                dot = next < 0 ? -1 : dot + 1 + next;
            }
            return match;
        }

        public TenantRoutes With(List<TRoute> removed, List<TRoute> added)
        {
            // Group the change by the host key it touches, so each touched part is copied once.
            var touched = new Dictionary<(bool Wildcard, string Key), (List<TRoute> Removed, List<TRoute> Added)>();
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
                    Replace(wildcard, key, "*" + key, gone, come);
                }
                else
                {
                    exact ??= new Dictionary<string, PathTable>(_exact, StringComparer.OrdinalIgnoreCase);
                    Replace(exact, key, key, gone, come);
                }
            }
            return new TenantRoutes(exact ?? _exact, wildcard ?? _wildcard);
        }

        private static void Replace(Dictionary<string, PathTable> tables, string key, string hostKey, List<TRoute> removed, List<TRoute> added)
        {
            var table = (tables.GetValueOrDefault(key) ?? PathTable.Empty(hostKey)).With(removed, added);
            if (table.IsEmpty)
                tables.Remove(key);
            else
                tables[key] = table;
        }

        private static (List<TRoute> Removed, List<TRoute> Added) Changes(
            Dictionary<(bool, string), (List<TRoute>, List<TRoute>)> touched, (bool, string) key)
        {
            if (!touched.TryGetValue(key, out var changes))
                touched[key] = changes = ([], []);
            return changes;
        }

        /// <summary>A route's host keys; a route without hosts (its tenant claims none) has none and matches nothing.</summary>
        private static IEnumerable<(bool, string)> HostKeys(TRoute route)
        {
            foreach (var host in route.Hosts)
                yield return host.StartsWith("*.", StringComparison.Ordinal) ? (true, host[1..]) : (false, host);
        }
    }

    /// <summary>The routes of one host key, by path prefix; each prefix's routes in the order they are tried.</summary>
    private sealed class PathTable
    {
        public static PathTable Empty(string hostKey) => new(hostKey, new(StringComparer.OrdinalIgnoreCase));

        /// <summary>The host key as attempts name it: the exact host, or <c>*.suffix</c>.</summary>
        private readonly string _hostKey;
        private readonly Dictionary<string, TRoute[]> _byPrefix;
        private readonly Dictionary<string, TRoute[]>.AlternateLookup<ReadOnlySpan<char>> _lookup;

        private PathTable(string hostKey, Dictionary<string, TRoute[]> byPrefix)
        {
            _hostKey = hostKey;
            _byPrefix = byPrefix;
            _lookup = byPrefix.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        public bool IsEmpty => _byPrefix.Count == 0;

        /// <summary>The first route that takes the request, or <paramref name="match"/> when there was one already (only when tracing attempts).</summary>
        public TRoute? Match<TRequest>(TRequest request, List<RouteAttempt<TRoute>>? attempts, TRoute? match) where TRequest : IRouteRequest
        {
            if (_byPrefix.Count == 0)
                return match;
            var path = (request.Path ?? "").AsSpan().TrimEnd('/');
            while (true)
            {
                var key = path.Length == 0 ? "/" : path;
                if (_lookup.TryGetValue(key, out var routes))
                {
                    foreach (var route in routes)
                    {
                        var accepted = route.Accepts(request);
                        if (attempts is null)
                        {
                            if (accepted)
                                return route;
                            continue;
                        }
                        attempts.Add(new RouteAttempt<TRoute>(route, _hostKey, accepted));
                        if (accepted)
                            match ??= route;
                    }
                }
                if (path.Length == 0)
                    return match;
                path = path[..path.LastIndexOf('/')];
            }
        }

        public PathTable With(List<TRoute> removed, List<TRoute> added)
        {
            var byPrefix = new Dictionary<string, TRoute[]>(_byPrefix, StringComparer.OrdinalIgnoreCase);
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
                var next = new TRoute[routes.Length + 1];
                routes.CopyTo(next, 0);
                next[^1] = route;
                Array.Sort(next, RouteRules.MatchOrder);
                byPrefix[route.Prefix] = next;
            }
            return new PathTable(_hostKey, byPrefix);
        }
    }
}
