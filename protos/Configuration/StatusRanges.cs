namespace ProxyPlatform.Configuration;

/// <summary>A set of HTTP statuses written as ranges: <c>200-399</c>, <c>200</c>, <c>200,204,300-302</c>.</summary>
public sealed class StatusRanges
{
    private readonly (int From, int To)[] _ranges;

    private StatusRanges((int, int)[] ranges) => _ranges = ranges;

    public bool Contains(int status)
    {
        foreach (var (from, to) in _ranges)
        {
            if (status >= from && status <= to)
                return true;
        }
        return false;
    }

    public static bool TryParse(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out StatusRanges? ranges)
    {
        ranges = null;
        if (string.IsNullOrWhiteSpace(text) || text.Length > 200)
            return false;
        var parsed = new List<(int, int)>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            var (fromText, toText) = dash < 0 ? (part, part) : (part[..dash].Trim(), part[(dash + 1)..].Trim());
            if (!TryStatus(fromText, out var from) || !TryStatus(toText, out var to) || from > to)
                return false;
            parsed.Add((from, to));
        }
        ranges = new StatusRanges([.. parsed]);
        return true;
    }

    private static bool TryStatus(string text, out int status) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out status)
        && status is >= 100 and <= 599;
}
