using System.Globalization;

namespace ProxyPlatform.Configuration;

/// <summary>
/// Host names as ownership and routing compare them: lower case, without a trailing dot, IDNs as
/// A-labels. A claim <c>*.example.com</c> covers every name below <c>example.com</c> at any depth
/// (<c>a.example.com</c>, <c>a.b.example.com</c>, and the wildcard <c>*.b.example.com</c>), not
/// <c>example.com</c> itself. One implementation for the control plane's claims and the workers' matching.
/// </summary>
public static class HostNames
{
    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = true };

    /// <summary>The name as it is stored and compared; the input unchanged when it cannot be a host name (the validator then says why).</summary>
    public static string Normalize(string host)
    {
        var name = host.Trim();
        if (name.EndsWith('.'))
            name = name[..^1];
        var wildcard = name.StartsWith("*.", StringComparison.Ordinal);
        var rest = wildcard ? name[2..] : name;
        if (rest.Any(c => c > 127))
        {
            try
            {
                rest = Idn.GetAscii(rest);
            }
            catch (ArgumentException)
            {
                return host;
            }
        }
        return (wildcard ? "*." : "") + rest.ToLowerInvariant();
    }

    public static bool IsWildcard(string host) => host.StartsWith("*.", StringComparison.Ordinal);

    /// <summary>True when <paramref name="claim"/> covers <paramref name="host"/> (both normalized): the same name, or a name below a wildcard.</summary>
    public static bool Covers(string claim, string host)
    {
        if (claim == host)
            return true;
        if (!IsWildcard(claim))
            return false;
        // "*.example.com" is the suffix ".example.com"; a wildcard host below it ends with that suffix too.
        var suffix = claim.AsSpan(1);
        var name = IsWildcard(host) ? host.AsSpan(1) : host.AsSpan();
        return name.Length > suffix.Length && name.EndsWith(suffix, StringComparison.Ordinal);
    }

    /// <summary>
    /// True when a TLS certificate's name <paramref name="certificateName"/> serves <paramref name="host"/>
    /// (both normalized): the same name, or a wildcard covering exactly one label (RFC 6125), so
    /// <c>*.example.com</c> serves <c>a.example.com</c> but neither <c>a.b.example.com</c> nor <c>example.com</c>.
    /// </summary>
    public static bool CertificateCovers(string certificateName, string host)
    {
        if (certificateName == host)
            return true;
        if (!IsWildcard(certificateName) || IsWildcard(host))
            return false;
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && host.AsSpan(dot).SequenceEqual(certificateName.AsSpan(1));
    }

    /// <summary>True when some request host could match both names: one covers the other.</summary>
    public static bool Overlap(string a, string b) => Covers(a, b) || Covers(b, a);
}
