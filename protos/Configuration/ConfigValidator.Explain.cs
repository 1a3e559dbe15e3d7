using ProxyPlatform.Routing;

namespace ProxyPlatform.Configuration;

public static partial class ConfigValidator
{
    /// <summary>Bounds on a request to explain: what a real request could carry, and no more.</summary>
    public const int MaxExplainPathLength = 8192, MaxExplainHeaders = 64, MaxMethodLength = 32;

    public static IReadOnlyList<FieldError> Validate(ExplainQuery? query)
    {
        var errors = new List<FieldError>();
        if (query is null)
        {
            errors.Add(new FieldError("", "A body is required: {\"method\", \"host\", \"path\", \"headers\"}."));
            return errors;
        }
        if (string.IsNullOrEmpty(query.Method) || query.Method.Length > MaxMethodLength || !TokenPattern().IsMatch(query.Method))
            errors.Add(new FieldError("method", $"'{Shortened(query.Method)}' is not an HTTP method (e.g. GET; at most {MaxMethodLength} token characters)."));
        var host = query.Host?.Trim() ?? "";
        var colon = host.LastIndexOf(':');
        if (colon > 0 && host[(colon + 1)..].All(char.IsAsciiDigit))
            host = host[..colon];
        var normalized = host.Length is > 0 and <= 253 ? HostNames.Normalize(host) : host;
        if (normalized.Length is 0 or > 253 || HostNames.IsWildcard(normalized) || !HostPattern().IsMatch(normalized))
            errors.Add(new FieldError("host", $"'{Shortened(query.Host)}' is not a host name (the Host header a client sends, e.g. api.example.com)."));
        if (string.IsNullOrEmpty(query.Path) || query.Path.Length > MaxExplainPathLength || !PathPattern().IsMatch(query.Path))
            errors.Add(new FieldError("path", $"'{Shortened(query.Path)}' is not a request path: it must start with '/', hold only URL path characters (percent-encode the rest), have no query, and be at most {MaxExplainPathLength} characters."));
        var headers = query.Headers ?? new Dictionary<string, string>();
        if (headers.Count > MaxExplainHeaders)
            errors.Add(new FieldError("headers", $"lists at most {MaxExplainHeaders} headers."));
        foreach (var (name, value) in headers.Take(MaxExplainHeaders))
        {
            if (name.Length > MaxHeaderNameLength || !TokenPattern().IsMatch(name))
                errors.Add(new FieldError($"headers.{Shortened(name)}", $"is not a valid header name (at most {MaxHeaderNameLength} token characters)."));
            else if (value is null || value.Length > MaxHeaderValueLength || value.Any(char.IsControl))
                errors.Add(new FieldError($"headers.{name}", $"must be a header value of at most {MaxHeaderValueLength} characters, without control characters."));
        }
        return errors;
    }
}
