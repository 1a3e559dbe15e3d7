using System.Collections.Frozen;
using System.Collections.Immutable;
using ProxyPlatform.DataPlane.Routing;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Tls;

/// <summary>
/// Which certificate answers a TLS handshake, by its server name (SNI): immutable, built with each
/// revision that changes a certificate and swapped in with the rest of the runtime, so a new
/// certificate is presented from the next handshake on and open connections keep theirs.
/// </summary>
/// <remarks>
/// The lookup starts from the host's owner, as routing does (<see cref="RouteTable.OwnerOf"/>): only
/// the owning tenant's certificates are candidates, exact name first, then a wildcard covering one
/// label (RFC 6125, <see cref="ProxyPlatform.Configuration.HostNames.CertificateCovers"/>). So a host no tenant owns,
/// or one whose owner has no certificate for it, has none: the handshake fails rather than present
/// another tenant's certificate. Among one tenant's certificates for a name, the one valid longest
/// wins (then the lowest ID), so uploading a renewed certificate beside the old one switches to it.
/// </remarks>
public sealed class CertificateIndex
{
    public static CertificateIndex Empty { get; } = new(ImmutableDictionary<ResourceKey, ServedCertificate>.Empty);

    private readonly FrozenDictionary<string, TenantCertificates> _byTenant;

    private CertificateIndex(ImmutableDictionary<ResourceKey, ServedCertificate> byId)
    {
        ById = byId;
        _byTenant = byId.Values
            .GroupBy(c => c.Id.Tenant, StringComparer.Ordinal)
            .ToFrozenDictionary(g => g.Key, g => new TenantCertificates(g), StringComparer.Ordinal);
    }

    /// <summary>Every compiled certificate, by resource: what the next compilation starts from.</summary>
    public ImmutableDictionary<ResourceKey, ServedCertificate> ById { get; }

    public int Count => ById.Count;

    /// <summary>An index of <paramref name="certificates"/>; this one when they are the same.</summary>
    public CertificateIndex With(ImmutableDictionary<ResourceKey, ServedCertificate> certificates) =>
        ReferenceEquals(certificates, ById) ? this : new CertificateIndex(certificates);

    /// <summary>The certificate for <paramref name="serverName"/>, owned by the tenant <paramref name="routes"/> give the host to; null when there is none.</summary>
    public ServedCertificate? Find(string? serverName, RouteTable routes)
    {
        if (string.IsNullOrEmpty(serverName) || _byTenant.Count == 0)
            return null;
        // SNI carries an A-label name (RFC 6066); compared as host names are stored.
        var host = serverName.TrimEnd('.').ToLowerInvariant();
        if (host.Length == 0 || routes.OwnerOf(host) is not { } owner || !_byTenant.TryGetValue(owner, out var tenant))
            return null;
        return tenant.Find(host);
    }

    /// <summary>One tenant's certificates by name: exact names, and wildcards by the parent domain they cover one label below.</summary>
    private sealed class TenantCertificates
    {
        private readonly FrozenDictionary<string, ServedCertificate> _exact;
        private readonly FrozenDictionary<string, ServedCertificate> _wildcard;

        public TenantCertificates(IEnumerable<ServedCertificate> certificates)
        {
            var exact = new Dictionary<string, ServedCertificate>(StringComparer.Ordinal);
            var wildcard = new Dictionary<string, ServedCertificate>(StringComparer.Ordinal);
            foreach (var certificate in certificates.OrderByDescending(c => c.NotAfter).ThenBy(c => c.Id.Id, StringComparer.Ordinal))
            {
                foreach (var name in certificate.Names)
                {
                    if (ProxyPlatform.Configuration.HostNames.IsWildcard(name))
                        wildcard.TryAdd(name[2..], certificate);
                    else
                        exact.TryAdd(name, certificate);
                }
            }
            _exact = exact.ToFrozenDictionary(StringComparer.Ordinal);
            _wildcard = wildcard.ToFrozenDictionary(StringComparer.Ordinal);
        }

        public ServedCertificate? Find(string host)
        {
            if (_exact.TryGetValue(host, out var exact))
                return exact;
            var dot = host.IndexOf('.', StringComparison.Ordinal);
            return dot > 0 && !host.StartsWith('*') && _wildcard.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(host.AsSpan(dot + 1), out var wildcard)
                ? wildcard
                : null;
        }
    }
}
