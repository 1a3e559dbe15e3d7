using System.Security.Cryptography;
using System.Text;
using Microsoft.Net.Http.Headers;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.LoadBalancing;

/// <summary>
/// A cluster's <c>sessionAffinity</c>: a client that presents the key of one of the cluster's
/// backends (in a cookie or a header) is sent back to it while it is routable and its circuit
/// allows; the answer tells a client without that key the key of the backend that answered it.
/// Keys are opaque and stable: clients see no backend IDs or addresses.
/// </summary>
public sealed class SessionAffinity
{
    private readonly ResourceKey _cluster;
    private readonly Dictionary<string, int> _indexByKey;

    /// <summary>The affinity of cluster <paramref name="cluster"/>, whose requests go to <paramref name="backends"/>.</summary>
    public SessionAffinity(SessionAffinitySpec spec, ResourceKey cluster, Backend[] backends)
    {
        _cluster = cluster;
        Mode = spec.Mode;
        Name = spec.Name;
        _indexByKey = new Dictionary<string, int>(backends.Length, StringComparer.Ordinal);
        for (var i = 0; i < backends.Length; i++)
            _indexByKey[KeyOf(cluster, backends[i].Id)] = i;
    }

    /// <summary><c>cookie</c> or <c>header</c>.</summary>
    public string Mode { get; }
    /// <summary>The cookie's or the header's name.</summary>
    public string Name { get; }

    /// <summary>The key the client presented, if any.</summary>
    public string? KeyOf(HttpRequest request) => Mode == "header"
        ? request.Headers[Name].ToString() is { Length: > 0 } value ? value : null
        : request.Cookies[Name];

    /// <summary>The index among the cluster's backends of the one <paramref name="key"/> names, or -1 when it names none of them.</summary>
    public int Find(string? key) => key is not null && _indexByKey.TryGetValue(key, out var index) ? index : -1;

    /// <summary>The key of <paramref name="backend"/>.</summary>
    public string KeyFor(Backend backend) => KeyOf(_cluster, backend.Id);

    /// <summary>Tells the client the key of <paramref name="backend"/>, which answered it, unless <paramref name="presented"/> is that key already.</summary>
    public void WriteKey(IHeaderDictionary headers, Backend backend, string? presented)
    {
        var key = KeyFor(backend);
        if (key == presented)
            return;
        if (Mode == "header")
            headers[Name] = key;
        else
            headers.Append(HeaderNames.SetCookie, $"{Name}={key}; Path=/; HttpOnly; SameSite=Lax");
    }

    private static string KeyOf(ResourceKey cluster, string backend)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{cluster.QualifiedId}/{backend}"));
        return Convert.ToHexStringLower(hash, 0, 8);
    }
}
