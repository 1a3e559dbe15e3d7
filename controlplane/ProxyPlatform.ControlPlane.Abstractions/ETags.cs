namespace ProxyPlatform.ControlPlane;

/// <summary>Entity tags of admin resources: the quoted revision at which the resource last changed.</summary>
public static class ETags
{
    public static string Format(long revision) => $"\"{revision}\"";

    /// <summary>
    /// Enforces an <c>If-Match</c> value (<c>*</c>, or one or more quoted ETags; a weak <c>W/</c> prefix
    /// is accepted) against the resource's current revision, or null when it does not exist.
    /// </summary>
    public static void Check(string? ifMatch, long? current, string what)
    {
        if (string.IsNullOrWhiteSpace(ifMatch))
            return;
        var currentTag = current is { } c ? Format(c) : null;
        if (current is not null && ifMatch.Trim() == "*")
            return;
        if (current is not null)
        {
            foreach (var tag in ifMatch.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var strong = tag.StartsWith("W/", StringComparison.Ordinal) ? tag[2..] : tag;
                if (strong == currentTag)
                    return;
            }
        }
        throw AdminException.PreconditionFailed(what, currentTag);
    }
}
