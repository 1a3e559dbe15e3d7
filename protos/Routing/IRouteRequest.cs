namespace ProxyPlatform.Routing;

/// <summary>
/// A request as the matching rules see it: its method, host, path and headers, and nothing else. The
/// worker wraps its <c>HttpRequest</c> in a struct that implements this (no allocation per request);
/// the control plane's analysis and "explain" use <see cref="SampleRequest"/>.
/// </summary>
public interface IRouteRequest
{
    string Method { get; }
    /// <summary>The host without its port, as the client sent it (a trailing dot and case do not matter).</summary>
    string Host { get; }
    /// <summary>The decoded path (the server's <c>PathString</c> value); null or empty is the root.</summary>
    string? Path { get; }
    /// <summary>True when one of the request's values of header <paramref name="name"/> equals <paramref name="value"/>, ignoring case.</summary>
    bool HasHeader(string name, string value);
}

/// <summary>A concrete request, as the overlap analysis reports it and "explain" takes it.</summary>
/// <param name="Headers">Header values by name; a name may appear more than once (a request may carry a header twice).</param>
public sealed record SampleRequest(string Method, string Host, string Path, IReadOnlyList<KeyValuePair<string, string>> Headers) : IRouteRequest
{
    public bool HasHeader(string name, string value)
    {
        foreach (var (n, v) in Headers)
        {
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase) && string.Equals(v, value, StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }
}
