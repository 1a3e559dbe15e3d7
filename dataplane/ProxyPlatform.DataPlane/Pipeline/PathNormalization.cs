namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// The request path as it is matched and forwarded, settled before matching so that no spelling of
/// a path reaches a route (or a backend) that its plain spelling would not: <c>//</c> collapses to
/// <c>/</c>, dot segments (<c>.</c>, <c>..</c>, also spelled <c>%2E</c>) are resolved, and a path with
/// an encoded <c>/</c> or <c>\</c> (<c>%2F</c>, <c>%5C</c>, any case) or a backslash is refused: a
/// backend decoding it would see a different path than the one that was matched.
/// </summary>
/// <remarks>
/// It works on the path as the server decoded it: Kestrel decodes every escape except <c>%2F</c>
/// (so <c>%5C</c> arrives as <c>\</c>) and removes dot segments it can see. A path that needs none of
/// this, nearly every path, is checked in one scan and left as it is, without allocating.
/// </remarks>
public static class PathNormalization
{
    /// <summary>
    /// Normalises the request's path in place; false, with the 400 answer in <paramref name="refusal"/>,
    /// when the path cannot be served.
    /// </summary>
    public static bool TryNormalize(HttpRequest request, out Problem refusal)
    {
        var path = request.Path.Value;
        if (path is null)
        {
            refusal = default;
            return true;
        }
        var normalized = Normalize(path, out var reason);
        if (normalized is null)
        {
            refusal = Problem.BadPath(reason!);
            return false;
        }
        if (!ReferenceEquals(normalized, path))
            request.Path = new PathString(normalized);
        refusal = default;
        return true;
    }

    /// <summary>
    /// The normalised form of a decoded <paramref name="path"/>: the same instance when it needs no
    /// change, or null with the reason when it is refused (<see cref="ProxyPlatform.Routing.RequestPaths.Normalize"/>).
    /// </summary>
    public static string? Normalize(string path, out string? refusal) => ProxyPlatform.Routing.RequestPaths.Normalize(path, out refusal);
}
