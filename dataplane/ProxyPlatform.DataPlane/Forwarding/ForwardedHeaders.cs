using System.Net;
using Microsoft.Extensions.Primitives;

namespace ProxyPlatform.DataPlane.Forwarding;

/// <summary>The <c>X-Forwarded-*</c> and <c>X-Real-IP</c> values the worker sends for one request.</summary>
public sealed record ForwardedValues(string For, string Proto, string? Host, string RealIp);

/// <summary>
/// <c>X-Forwarded-*</c> as a proxy should write them: what a client claims is believed only when the
/// client is a trusted proxy (<c>Proxy:TrustedProxies</c>). From anyone else the incoming values
/// are replaced by what the worker itself sees, so a client cannot pass itself off as another
/// address. From a trusted proxy <c>X-Forwarded-For</c> is appended to, and the client is the
/// right-most address that is not itself a trusted proxy (as nginx's <c>real_ip_recursive</c>).
/// </summary>
public static class ForwardedHeaders
{
    public const string For = "X-Forwarded-For";
    public const string Proto = "X-Forwarded-Proto";
    public const string Host = "X-Forwarded-Host";
    public const string RealIp = "X-Real-IP";

    public static ForwardedValues Resolve(HttpContext context, IReadOnlyList<IPNetwork> trusted)
    {
        var request = context.Request;
        var peer = context.Connection.RemoteIpAddress;
        var peerText = Format(peer);
        var host = request.Host.HasValue ? request.Host.Value : null;
        if (peer is null || !IsTrusted(peer, trusted))
            return new ForwardedValues(peerText, request.Scheme, host, peerText);

        var incoming = request.Headers[For];
        var chain = incoming.Count == 0 ? peerText : $"{string.Join(", ", (IEnumerable<string?>)incoming)}, {peerText}";
        return new ForwardedValues(
            chain,
            First(request.Headers[Proto]) ?? request.Scheme,
            First(request.Headers[Host]) ?? host,
            ClientOf(chain, trusted) ?? peerText);
    }

    public static bool IsTrusted(IPAddress address, IReadOnlyList<IPNetwork> trusted)
    {
        if (trusted.Count == 0)
            return false;
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        foreach (var network in trusted)
        {
            if (network.Contains(address))
                return true;
        }
        return false;
    }

    /// <summary>The right-most address of a forwarding chain that is not a trusted proxy.</summary>
    private static string? ClientOf(string chain, IReadOnlyList<IPNetwork> trusted)
    {
        var hops = chain.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        string? last = null;
        for (var i = hops.Length - 1; i >= 0; i--)
        {
            if (!IPAddress.TryParse(hops[i], out var address))
                return last;
            last = Format(address);
            if (!IsTrusted(address, trusted))
                return last;
        }
        return last;
    }

    private static string? First(StringValues values) =>
        values.Count == 0 ? null : values[0]?.Split(',', 2, StringSplitOptions.TrimEntries)[0] is { Length: > 0 } first ? first : null;

    private static string Format(IPAddress? address)
    {
        if (address is null)
            return "unknown";
        return address.IsIPv4MappedToIPv6 ? address.MapToIPv4().ToString() : address.ToString();
    }
}
