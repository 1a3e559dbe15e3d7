using System.Buffers;

namespace ProxyPlatform.Routing;

/// <summary>
/// Request paths as the worker matches and forwards them (the worker's <c>PathNormalization</c> calls
/// <see cref="Normalize"/>; explain uses the same): <c>//</c> collapses to <c>/</c>, dot segments are
/// resolved, and a path with an encoded <c>/</c> or <c>\</c> or a backslash is refused.
/// </summary>
public static class RequestPaths
{
    private static readonly SearchValues<char> Suspect = SearchValues.Create("%\\");

    /// <summary>
    /// A path as it arrives on the wire, decoded as Kestrel decodes it: every escape except <c>%2F</c>,
    /// which stays encoded so that <see cref="Normalize"/> can refuse it. Bytes that do not form valid
    /// UTF-8 stay as they were written.
    /// </summary>
    public static string Decode(string rawPath) => Microsoft.AspNetCore.Http.PathString.FromUriComponent(rawPath).Value ?? "/";

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
