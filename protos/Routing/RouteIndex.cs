namespace ProxyPlatform.Routing;

/// <summary>
/// One tenant's routes by host key and path prefix, for the overlap analysis
/// (<see cref="RouteOverlaps"/>): the routes that can take the same requests as a route are found
/// through its host keys and its prefix's ancestors and descendants, never by a scan of every route.
/// Mutable; the control plane keeps one per tenant up to date as routes are committed.
/// </summary>
public sealed class RouteIndex
{
    private readonly Dictionary<string, Dictionary<string, List<RouteRules>>> _byHost = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, RouteRules> _byName = new(StringComparer.Ordinal);
    private readonly HashSet<string> _allowShadowed = new(StringComparer.Ordinal);

    public int Count => _byName.Count;

    public IEnumerable<RouteRules> Routes => _byName.Values;

    public RouteRules? Get(string name) => _byName.GetValueOrDefault(name);

    /// <summary>True when the route may be fully shadowed (<c>allowShadowed</c>).</summary>
    public bool AllowsShadowing(string name) => _allowShadowed.Contains(name);

    /// <summary>Puts <paramref name="route"/> in, replacing the route of the same name.</summary>
    public void Put(RouteRules route, bool allowShadowed = false)
    {
        Remove(route.Name);
        _byName[route.Name] = route;
        if (allowShadowed)
            _allowShadowed.Add(route.Name);
        foreach (var host in route.Hosts)
        {
            if (!_byHost.TryGetValue(host, out var byPrefix))
                _byHost[host] = byPrefix = new Dictionary<string, List<RouteRules>>(StringComparer.OrdinalIgnoreCase);
            if (!byPrefix.TryGetValue(route.Prefix, out var routes))
                byPrefix[route.Prefix] = routes = [];
            routes.Add(route);
        }
    }

    public void Remove(string name)
    {
        if (!_byName.Remove(name, out var route))
            return;
        _allowShadowed.Remove(name);
        foreach (var host in route.Hosts)
        {
            if (!_byHost.TryGetValue(host, out var byPrefix) || !byPrefix.TryGetValue(route.Prefix, out var routes))
                continue;
            routes.RemoveAll(r => r.Name == name);
            if (routes.Count == 0 && byPrefix.Remove(route.Prefix) && byPrefix.Count == 0)
                _byHost.Remove(host);
        }
    }

    /// <summary>The routes under host key <paramref name="host"/> (an exact name or <c>*.suffix</c>) with exactly <paramref name="prefix"/>.</summary>
    public IReadOnlyList<RouteRules> At(string host, string prefix) =>
        _byHost.TryGetValue(host, out var byPrefix) && byPrefix.TryGetValue(prefix, out var routes) ? routes : [];

    /// <summary>
    /// The routes other than <paramref name="route"/> that may take some of the requests it takes: a
    /// host key that shares a name with one of its own, and a prefix that is an ancestor or a
    /// descendant of its prefix. Methods and headers are left to <see cref="RouteOverlaps.Between"/>.
    /// </summary>
    public IEnumerable<RouteRules> Candidates(RouteRules route)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal) { route.Name };
        foreach (var key in SharingKeys(route))
        {
            var byPrefix = _byHost[key];
            // Ancestors by lookup; descendants by a scan of this host key's prefixes.
            for (var prefix = route.Prefix; ; prefix = Parent(prefix))
            {
                foreach (var other in byPrefix.GetValueOrDefault(prefix) ?? [])
                {
                    if (seen.Add(other.Name))
                        yield return other;
                }
                if (prefix == "/")
                    break;
            }
            if (route.Prefix == "/")
            {
                foreach (var (_, routes) in byPrefix)
                {
                    foreach (var other in routes)
                    {
                        if (seen.Add(other.Name))
                            yield return other;
                    }
                }
                continue;
            }
            foreach (var (prefix, routes) in byPrefix)
            {
                if (prefix.Length <= route.Prefix.Length || !RouteRules.PathIsUnder(prefix, route.Prefix))
                    continue;
                foreach (var other in routes)
                {
                    if (seen.Add(other.Name))
                        yield return other;
                }
            }
        }
    }

    /// <summary>The host keys that share at least one name with one of <paramref name="route"/>'s.</summary>
    private IEnumerable<string> SharingKeys(RouteRules route)
    {
        var keys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var host in route.Hosts)
        {
            if (_byHost.ContainsKey(host))
                keys.Add(host);
            // The wildcards above the host: "*.b.c" and "*.c" for "a.b.c" and for "*.a.b.c".
            var name = host.StartsWith("*.", StringComparison.Ordinal) ? host[2..] : host;
            for (var dot = name.IndexOf('.'); dot >= 0; dot = name.IndexOf('.', dot + 1))
            {
                var above = "*" + name[dot..];
                if (_byHost.ContainsKey(above))
                    keys.Add(above);
            }
            if (host.StartsWith("*.", StringComparison.Ordinal))
            {
                // The names below a wildcard: a scan of the tenant's host keys, which are few.
                foreach (var key in _byHost.Keys)
                {
                    if (Configuration.HostNames.Covers(host, key))
                        keys.Add(key);
                }
            }
        }
        return keys;
    }

    private static string Parent(string prefix)
    {
        var slash = prefix.LastIndexOf('/');
        return slash <= 0 ? "/" : prefix[..slash];
    }
}
