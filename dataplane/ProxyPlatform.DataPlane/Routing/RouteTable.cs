using ProxyPlatform.Routing;

namespace ProxyPlatform.DataPlane.Routing;

/// <summary>
/// The worker's routing table: the shared matching rules (<see cref="RouteMatcher{TRoute}"/>, which the
/// control plane's overlap analysis and "explain" use too) over the worker's compiled routes. Immutable;
/// <see cref="With"/> and <see cref="WithClaims"/> make the next table by copying only the parts a
/// change touches, so a route change costs what it changes and not what the pool holds.
/// </summary>
public sealed class RouteTable
{
    public static RouteTable Empty { get; } = new(RouteMatcher<CompiledRoute>.Empty);

    private readonly RouteMatcher<CompiledRoute> _matcher;

    private RouteTable(RouteMatcher<CompiledRoute> matcher) => _matcher = matcher;

    /// <inheritdoc cref="RouteMatcher.UnclaimedHosts"/>
    public const string UnclaimedHosts = RouteMatcher.UnclaimedHosts;

    /// <summary>How many routes the table holds.</summary>
    public int Count => _matcher.Count;

    /// <summary>The tenants that claim at least one host name.</summary>
    public IEnumerable<string> ClaimingTenants => _matcher.ClaimingTenants;

    /// <summary>The rules themselves, for "explain" on the worker's applied configuration.</summary>
    public RouteMatcher<CompiledRoute> Matcher => _matcher;

    public CompiledRoute? Match(HttpRequest request) => _matcher.Match(new HttpRouteRequest(request));

    /// <summary>The tenant that owns <paramref name="host"/>, or null when no tenant claims it.</summary>
    public string? OwnerOf(ReadOnlySpan<char> host) => _matcher.OwnerOf(host);

    /// <inheritdoc cref="RouteMatcher{TRoute}.WithClaims"/>
    public RouteTable WithClaims(IReadOnlyDictionary<string, IReadOnlyList<string>> claims)
    {
        var next = _matcher.WithClaims(claims);
        return ReferenceEquals(next, _matcher) ? this : new RouteTable(next);
    }

    /// <inheritdoc cref="RouteMatcher{TRoute}.With"/>
    public RouteTable With(IReadOnlyCollection<CompiledRoute> removed, IReadOnlyCollection<CompiledRoute> added)
    {
        var next = _matcher.With(removed, added);
        return ReferenceEquals(next, _matcher) ? this : new RouteTable(next);
    }
}

/// <summary>An <see cref="HttpRequest"/> as the matching rules see it; a struct, so matching allocates nothing.</summary>
public readonly struct HttpRouteRequest(HttpRequest request) : IRouteRequest
{
    public string Method => request.Method;
    public string Host => request.Host.Host;
    public string? Path => request.Path.Value;

    public bool HasHeader(string name, string value)
    {
        foreach (var candidate in request.Headers[name])
        {
            if (string.Equals(candidate, value, StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }
}
