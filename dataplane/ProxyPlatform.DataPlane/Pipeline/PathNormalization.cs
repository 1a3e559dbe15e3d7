using System.Buffers;

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
    private static readonly SearchValues<char> Suspect = SearchValues.Create("%\\");

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
    /// change, or null with the reason when it is refused.
    /// </summary>
    public static string? Normalize(string path, out string? refusal)
    {
        refusal = null;
        var span = path.AsSpan();
        var suspect = span.IndexOfAny(Suspect) >= 0;
        if (!suspect && !span.Contains("//", StringComparison.Ordinal) && !span.Contains("/.", StringComparison.Ordinal))
            return path;
        if (suspect)
        {
            if (span.Contains('\\'))
            {
                refusal = "The path contains a backslash (or %5C): backends disagree on whether it separates segments.";
                return null;
            }
            if (span.Contains("%2F", StringComparison.OrdinalIgnoreCase) || span.Contains("%5C", StringComparison.OrdinalIgnoreCase))
            {
                refusal = "The path contains an encoded '/' or '\\' (%2F or %5C): backends disagree on whether it separates segments.";
                return null;
            }
        }
        return Resolve(path);
    }

    /// <summary>Collapses empty segments and resolves dot segments (RFC 3986 §5.2.4; <c>..</c> above the root stays at the root).</summary>
    private static string Resolve(string path)
    {
        var segments = new List<string>();
        var trailingSlash = false;
        foreach (var segment in path.Split('/'))
        {
            trailingSlash = false;
            if (segment.Length == 0)
            {
                trailingSlash = true;
                continue;
            }
            switch (Dots(segment))
            {
                case 1:
                    trailingSlash = true;
                    continue;
                case 2:
                    if (segments.Count > 0)
                        segments.RemoveAt(segments.Count - 1);
                    trailingSlash = true;
                    continue;
                default:
                    segments.Add(segment);
                    break;
            }
        }
        if (segments.Count == 0)
            return "/";
        var resolved = "/" + string.Join('/', segments) + (trailingSlash ? "/" : "");
        return resolved == path ? path : resolved;
    }

    /// <summary>1 for a <c>.</c> segment, 2 for <c>..</c> (each dot possibly spelled <c>%2E</c>), else 0.</summary>
    private static int Dots(ReadOnlySpan<char> segment)
    {
        var dots = 0;
        while (segment.Length > 0 && dots <= 2)
        {
            if (segment[0] == '.')
                segment = segment[1..];
            else if (segment.StartsWith("%2E", StringComparison.OrdinalIgnoreCase))
                segment = segment[3..];
            else
                return 0;
            dots++;
        }
        return dots <= 2 ? dots : 0;
    }
}
