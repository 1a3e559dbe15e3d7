namespace ProxyPlatform.DataPlane.Routing;

/// <summary>
/// The worker's routing table: host, then the longest path prefix, then the most constrained route,
/// then priority. Immutable; <see cref="With"/> makes the next table by copying only the parts a
/// change touches, so a route change costs what it changes and not what the pool holds.
/// </summary>
/// <remarks>
/// A request's host is looked up exactly first, then by its wildcard suffixes from the longest
/// (<c>a.b.example.com</c> tries <c>*.b.example.com</c>, then <c>*.example.com</c>), then among the
/// routes that match any host. Within a host the path is looked up at each segment boundary from
/// the longest: <c>/api/v1/x</c> tries <c>/api/v1/x</c>, <c>/api/v1</c>, <c>/api</c>, <c>/</c>.
/// Host names and paths compare case-insensitively, as ASP.NET Core routing does.
/// </remarks>
public sealed class RouteTable
{
    public static RouteTable Empty { get; } = new(new(StringComparer.OrdinalIgnoreCase), new(StringComparer.OrdinalIgnoreCase), PathTable.Empty, 0);

    private readonly Dictionary<string, PathTable> _exact;
    private readonly Dictionary<string, PathTable> _wildcard;
    private readonly Dictionary<string, PathTable>.AlternateLookup<ReadOnlySpan<char>> _exactLookup;
    private readonly Dictionary<string, PathTable>.AlternateLookup<ReadOnlySpan<char>> _wildcardLookup;
    private readonly PathTable _anyHost;

    private RouteTable(Dictionary<string, PathTable> exact, Dictionary<string, PathTable> wildcard, PathTable anyHost, int count)
    {
        _exact = exact;
        _wildcard = wildcard;
        _exactLookup = exact.GetAlternateLookup<ReadOnlySpan<char>>();
        _wildcardLookup = wildcard.GetAlternateLookup<ReadOnlySpan<char>>();
        _anyHost = anyHost;
        Count = count;
    }

    /// <summary>How many routes the table holds.</summary>
    public int Count { get; }

    public CompiledRoute? Match(HttpRequest request)
    {
        var path = request.Path.Value;
        var host = request.Host.Host.AsSpan().TrimEnd('.');
        if (_exact.Count > 0 && _exactLookup.TryGetValue(host, out var exact) && exact.Match(path, request) is { } byHost)
            return byHost;
        if (_wildcard.Count > 0)
        {
            // "*.example.com" is kept under ".example.com": try every suffix that starts at a dot.
            for (var dot = host.IndexOf('.'); dot >= 0; )
            {
                var suffix = host[dot..];
                if (_wildcardLookup.TryGetValue(suffix, out var wildcard) && wildcard.Match(path, request) is { } bySuffix)
                    return bySuffix;
                var next = suffix[1..].IndexOf('.');
                dot = next < 0 ? -1 : dot + 1 + next;
            }
        }
        return _anyHost.Match(path, request);
    }

    /// <summary>The table with <paramref name="removed"/> taken out and <paramref name="added"/> put in (a route both removed and added is replaced).</summary>
    public RouteTable With(IReadOnlyCollection<CompiledRoute> removed, IReadOnlyCollection<CompiledRoute> added)
    {
        if (removed.Count == 0 && added.Count == 0)
            return this;
        // Group the change by the host key it touches, so each touched part is copied once.
        var touched = new Dictionary<(HostKind Kind, string Key), (List<CompiledRoute> Removed, List<CompiledRoute> Added)>();
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

        Dictionary<string, PathTable>? exact = null, wildcard = null;
        var anyHost = _anyHost;
        foreach (var ((kind, key), (gone, come)) in touched)
        {
            switch (kind)
            {
                case HostKind.Any:
                    anyHost = anyHost.With(gone, come);
                    break;
                case HostKind.Exact:
                    exact ??= new Dictionary<string, PathTable>(_exact, StringComparer.OrdinalIgnoreCase);
                    Replace(exact, key, gone, come);
                    break;
                case HostKind.Wildcard:
                    wildcard ??= new Dictionary<string, PathTable>(_wildcard, StringComparer.OrdinalIgnoreCase);
                    Replace(wildcard, key, gone, come);
                    break;
            }
        }
        var count = Count - removed.Count + added.Count;
        return new RouteTable(exact ?? _exact, wildcard ?? _wildcard, anyHost, count);
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
        Dictionary<(HostKind, string), (List<CompiledRoute>, List<CompiledRoute>)> touched, (HostKind, string) key)
    {
        if (!touched.TryGetValue(key, out var changes))
            touched[key] = changes = ([], []);
        return changes;
    }

    private enum HostKind { Any, Exact, Wildcard }

    private static IEnumerable<(HostKind, string)> HostKeys(CompiledRoute route)
    {
        if (route.Hosts.Count == 0)
        {
            yield return (HostKind.Any, "");
            yield break;
        }
        foreach (var host in route.Hosts)
            yield return host.StartsWith("*.", StringComparison.Ordinal) ? (HostKind.Wildcard, host[1..]) : (HostKind.Exact, host);
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
