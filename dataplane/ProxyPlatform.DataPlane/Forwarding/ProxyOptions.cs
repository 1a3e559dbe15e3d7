using System.Net;

namespace ProxyPlatform.DataPlane.Forwarding;

/// <summary>The proxy listener's own settings (<c>Proxy:*</c>), the same for every route the worker serves.</summary>
public sealed record ProxyOptions
{
    /// <summary>How the worker names itself in <c>Via</c>; its loop detection looks for this name.</summary>
    public required string InstanceName { get; init; }
    /// <summary>Networks whose <c>X-Forwarded-*</c> are believed (<c>Proxy:TrustedProxies</c>, CIDRs separated by commas).</summary>
    public IReadOnlyList<IPNetwork> TrustedProxies { get; init; } = [];
    /// <summary>Response headers never passed on to clients (<c>Proxy:StripResponseHeaders</c>, added to <c>Server</c> and <c>X-Powered-By</c>).</summary>
    public IReadOnlyList<string> StripResponseHeaders { get; init; } = DefaultStrippedHeaders;
    /// <summary>Most proxies a request may have passed through before this one (<c>Proxy:MaxHops</c>).</summary>
    public int MaxHops { get; init; } = 10;

    public static IReadOnlyList<string> DefaultStrippedHeaders { get; } = ["Server", "X-Powered-By"];

    /// <summary>Reads <c>Proxy:InstanceName</c>, <c>Proxy:TrustedProxies</c>, <c>Proxy:StripResponseHeaders</c> and <c>Proxy:MaxHops</c>; a bad value stops the worker with a message naming its key.</summary>
    public static ProxyOptions From(IConfiguration configuration, string workerId)
    {
        var name = configuration["Proxy:InstanceName"] is { Length: > 0 } configured ? configured.Trim() : "pp-" + workerId;
        if (name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or ':')))
        {
            if (configuration["Proxy:InstanceName"] is { Length: > 0 })
                throw new InvalidOperationException($"Proxy:InstanceName must hold only letters, digits, '-', '.', '_' and ':'; got '{name}'.");
            name = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' ? c : '-').ToArray());
        }
        var trusted = new List<IPNetwork>();
        foreach (var part in Split(configuration["Proxy:TrustedProxies"]))
        {
            var text = part.Contains('/', StringComparison.Ordinal) ? part : part + (part.Contains(':', StringComparison.Ordinal) ? "/128" : "/32");
            if (!IPNetwork.TryParse(text, out var network))
                throw new InvalidOperationException($"Proxy:TrustedProxies must be addresses or CIDR networks separated by commas (e.g. 10.0.0.0/8, 127.0.0.1); got '{part}'.");
            trusted.Add(network);
        }
        var maxHops = configuration.GetValue("Proxy:MaxHops", 10);
        if (maxHops is < 1 or > 255)
            throw new InvalidOperationException($"Proxy:MaxHops must be between 1 and 255; got {maxHops}.");
        return new ProxyOptions
        {
            InstanceName = name,
            TrustedProxies = trusted,
            StripResponseHeaders = [.. DefaultStrippedHeaders, .. Split(configuration["Proxy:StripResponseHeaders"])],
            MaxHops = maxHops,
        };
    }

    private static string[] Split(string? value) =>
        (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
