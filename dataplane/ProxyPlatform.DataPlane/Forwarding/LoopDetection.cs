using Microsoft.Net.Http.Headers;

namespace ProxyPlatform.DataPlane.Forwarding;

/// <summary>
/// Keeps a request from circling: every forwarded request carries a <c>Via</c> entry naming the
/// worker and a hop count. A request that arrives with this worker's own <c>Via</c> entry, or with
/// more hops than allowed, is refused (508) instead of being sent round again.
/// </summary>
public static class LoopDetection
{
    public const string HopsHeader = "X-ProxyPlatform-Hops";

    /// <summary>Why the request is a loop, or null when it is not.</summary>
    public static string? Check(HttpRequest request, ProxyOptions options)
    {
        foreach (var via in request.Headers.Via)
        {
            foreach (var entry in (via ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                // "1.1 name" or "1.1 name (comment)": the second token is the one that names a proxy.
                var parts = entry.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 2 && string.Equals(parts[1], options.InstanceName, StringComparison.OrdinalIgnoreCase))
                    return $"The request has already passed through this worker ({options.InstanceName}).";
            }
        }
        var hops = Hops(request);
        return hops >= options.MaxHops
            ? $"The request has passed through {hops} proxies; at most {options.MaxHops} are allowed."
            : null;
    }

    public static void Mark(HttpRequest request, HttpRequestMessage proxyRequest, string instanceName)
    {
        var version = request.Protocol switch { "HTTP/2" => "2", "HTTP/3" => "3", "HTTP/1.0" => "1.0", _ => "1.1" };
        var incoming = request.Headers.Via;
        var entry = $"{version} {instanceName}";
        proxyRequest.Headers.TryAddWithoutValidation(HeaderNames.Via, incoming.Count == 0 ? entry : $"{string.Join(", ", (IEnumerable<string?>)incoming)}, {entry}");
        proxyRequest.Headers.TryAddWithoutValidation(HopsHeader, (Hops(request) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static int Hops(HttpRequest request) =>
        int.TryParse(request.Headers[HopsHeader].ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var hops) ? hops : 0;
}
