using System.Net;

namespace ProxyPlatform.Configuration;

/// <summary>
/// Whether a resource stays within its pool's limits: the control plane refuses a write that does
/// not (so no worker is sent what it cannot apply), and a worker rejects that resource alone should
/// one still reach it. One check for both.
/// </summary>
public static class PoolLimitsCheck
{
    public static IReadOnlyList<FieldError> Check(RouteSpec route, PoolLimits? limits)
    {
        if (limits?.MaxRequestBodyBytes is { } max && route.MaxRequestBodyBytes > max)
            return [new FieldError("maxRequestBodyBytes", $"{route.MaxRequestBodyBytes} is more than the pool allows ({max}).")];
        return [];
    }

    /// <summary>A backend's address must lie in the pool's allowed networks, when it names an address; a host name is checked where it is resolved, by the worker as it connects.</summary>
    public static IReadOnlyList<FieldError> Check(BackendSpec backend, PoolLimits? limits, string field = "address")
    {
        if (limits?.AllowedBackendNetworks is not { } networks || !Uri.TryCreate(backend.Address, UriKind.Absolute, out var uri))
            return [];
        var address = uri.IsLoopback && uri.HostNameType == UriHostNameType.Dns ? IPAddress.Loopback
            : IPAddress.TryParse(uri.Host.Trim('[', ']'), out var literal) ? literal
            : null;
        if (address is null || Allows(networks, address))
            return [];
        return [new FieldError(field, $"{address} is outside the networks the pool's backends may address ({string.Join(", ", networks)}).")];
    }

    public static IReadOnlyList<FieldError> Check(ClusterDefinition cluster, PoolLimits? limits) =>
        [.. cluster.Backends.SelectMany(b => Check(b.Value, limits, $"backends.{b.Key}.address"))];

    /// <summary>True when <paramref name="address"/> lies in one of <paramref name="networks"/> (unset: any address).</summary>
    public static bool Allows(IReadOnlyList<string>? networks, IPAddress address)
    {
        if (networks is null)
            return true;
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        foreach (var network in networks)
        {
            if (IPNetwork.TryParse(network, out var parsed) && parsed.Contains(address))
                return true;
        }
        return false;
    }
}
