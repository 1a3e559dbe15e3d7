using Orleans.Concurrency;
using ProxyPlatform.Configuration;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane;

/// <summary>
/// Carries a <see cref="ResourceKey"/> across grain calls. The key lives in the contracts, which know
/// nothing of Orleans, so Orleans serializes it through this surrogate.
/// </summary>
[GenerateSerializer, Immutable, Alias("pp.ResourceKey")]
public readonly record struct ResourceKeySurrogate([property: Id(0)] int Kind, [property: Id(1)] string Tenant, [property: Id(2)] string Id);

[RegisterConverter]
public sealed class ResourceKeyConverter : IConverter<ResourceKey, ResourceKeySurrogate>
{
    public ResourceKey ConvertFromSurrogate(in ResourceKeySurrogate surrogate) => new((ResourceKind)surrogate.Kind, surrogate.Tenant, surrogate.Id);

    public ResourceKeySurrogate ConvertToSurrogate(in ResourceKey value) => new((int)value.Kind, value.Tenant, value.Id);
}

/// <summary>
/// One resource of a pool's configuration at a revision, as JSON of the configuration model;
/// <see cref="Json"/> is null when the resource was removed at that revision (a tombstone).
/// <see cref="Meta"/> is what the control plane keeps beside the spec in the same row and never
/// distributes (a cluster's per-backend revisions, its backends' ETags).
/// </summary>
[GenerateSerializer, Immutable, Alias("pp.ConfigEntry")]
public sealed record ConfigEntry(
    [property: Id(0)] ResourceKey Key,
    [property: Id(1)] long Revision,
    [property: Id(2)] string? Json,
    [property: Id(3)] string? Meta = null)
{
    public bool IsRemoval => Json is null;
}

/// <summary>The changes a pool's configuration went through from <see cref="BaseRevision"/> to <see cref="Revision"/>.</summary>
[GenerateSerializer, Immutable, Alias("pp.ConfigDelta")]
public sealed record ConfigDelta(
    [property: Id(0)] long BaseRevision,
    [property: Id(1)] long Revision,
    [property: Id(2)] IReadOnlyList<ConfigEntry> Entries);

/// <summary>
/// A pool's configuration as a whole: every resource, and the tombstones of removed ones after
/// <see cref="PrunedThrough"/> (those at or below it are forgotten: no delta can start before it).
/// </summary>
[GenerateSerializer, Immutable, Alias("pp.ConfigSnapshot")]
public sealed record PoolSnapshot(
    [property: Id(0)] string Pool,
    [property: Id(1)] long Revision,
    [property: Id(3)] IReadOnlyList<ConfigEntry> Entries,
    [property: Id(4)] long PrunedThrough = 0);

[GenerateSerializer, Immutable, Alias("pp.TenantResource")]
public sealed record TenantResource(
    [property: Id(0)] string Tenant,
    [property: Id(1)] TenantSpec Spec,
    [property: Id(2)] long Revision);

[GenerateSerializer, Immutable, Alias("pp.ClusterResource")]
public sealed record ClusterResource(
    [property: Id(0)] string Tenant,
    [property: Id(1)] string Cluster,
    [property: Id(2)] ClusterSpec Spec,
    [property: Id(3)] long Revision);

[GenerateSerializer, Immutable, Alias("pp.BackendResource")]
public sealed record BackendResource(
    [property: Id(0)] string Tenant,
    [property: Id(1)] string Cluster,
    [property: Id(2)] string Backend,
    [property: Id(3)] BackendSpec Spec,
    [property: Id(4)] long Revision);

[GenerateSerializer, Immutable, Alias("pp.RouteResource")]
public sealed record RouteResource(
    [property: Id(0)] string Tenant,
    [property: Id(1)] string Route,
    [property: Id(2)] RouteSpec Spec,
    [property: Id(3)] long Revision);

[GenerateSerializer, Immutable, Alias("pp.PoolResource")]
public sealed record PoolResource(
    [property: Id(0)] string Pool,
    [property: Id(1)] PoolSpec Spec,
    [property: Id(2)] long Revision);

/// <summary>What a certificate's answer shows of the certificate it holds: never its key.</summary>
[GenerateSerializer, Immutable, Alias("pp.CertificateFacts")]
public sealed record CertificateFacts(
    [property: Id(0)] IReadOnlyList<string> Names,
    [property: Id(1)] string Subject,
    [property: Id(2)] string Issuer,
    [property: Id(3)] DateTimeOffset NotBefore,
    [property: Id(4)] DateTimeOffset NotAfter,
    [property: Id(5)] string Fingerprint);

/// <summary>
/// Where an ACME-managed certificate stands: the hosts it is ordered for, its state (<c>pending</c>,
/// <c>ordering</c>, <c>valid</c>, <c>failed</c>), the last ACME error and when it is tried next, and when
/// a valid one is renewed.
/// </summary>
[GenerateSerializer, Immutable, Alias("pp.AcmeStatus")]
public sealed record AcmeStatus(
    [property: Id(0)] IReadOnlyList<string> Hosts,
    [property: Id(1)] string State,
    [property: Id(2)] string? LastError,
    [property: Id(3)] DateTimeOffset? LastErrorAt,
    [property: Id(4)] DateTimeOffset? NextAttemptAt,
    [property: Id(5)] DateTimeOffset? RenewAt);

/// <summary>A tenant's certificate as the admin API shows it: the issued certificate's facts (none yet for a pending ACME order) and its ACME status.</summary>
[GenerateSerializer, Immutable, Alias("pp.CertificateView")]
public sealed record CertificateView(
    [property: Id(0)] string Tenant,
    [property: Id(1)] string Certificate,
    [property: Id(2)] CertificateFacts? Issued,
    [property: Id(3)] AcmeStatus? Acme,
    [property: Id(4)] long Revision);

/// <summary>What a write did: the revision at which it took effect, and whether it created the resource.</summary>
[GenerateSerializer, Immutable, Alias("pp.WriteResult`1")]
public sealed record WriteResult<T>([property: Id(0)] T Resource, [property: Id(1)] long Revision, [property: Id(2)] bool Created);

/// <summary>Builds the keys grains use: <c>tenant/id</c> for resources that belong to a tenant.</summary>
public static class GrainKeys
{
    public static string Of(string tenant, string id) => $"{tenant}/{id}";

    public static (string Tenant, string Id) Split(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return (key[..slash], key[(slash + 1)..]);
    }
}

/// <summary>What a tenant stores, against its quotas.</summary>
[GenerateSerializer, Immutable, Alias("pp.TenantUsage")]
public sealed record TenantUsage
{
    [Id(0)] public int Routes { get; init; }
    [Id(1)] public int Clusters { get; init; }
    [Id(2)] public int Backends { get; init; }
}

/// <summary>A quota a write would exceed: its name (<c>maxRoutes</c>), its limit, and what the tenant uses now.</summary>
[GenerateSerializer, Immutable, Alias("pp.QuotaExcess")]
public sealed record QuotaExcess([property: Id(0)] string Quota, [property: Id(1)] long Limit, [property: Id(2)] long Use);

/// <summary>
/// Another route of the tenant that can take some of the same requests as the route asked about
/// (<see cref="ProxyPlatform.Routing.RouteOverlap"/>): which of the two wins them and by which rule, and a
/// request both accept that goes to the winner (none when a third route takes the requests tried).
/// </summary>
[GenerateSerializer, Immutable, Alias("pp.RouteOverlapView")]
public sealed record RouteOverlapView(
    [property: Id(0)] string Route,
    [property: Id(1)] string Winner,
    [property: Id(2)] string Rule,
    [property: Id(3)] SampleRequestView? SampleRequest);

[GenerateSerializer, Immutable, Alias("pp.SampleRequestView")]
public sealed record SampleRequestView(
    [property: Id(0)] string Method,
    [property: Id(1)] string Host,
    [property: Id(2)] string Path,
    [property: Id(3)] KeyValuePair<string, string>[] Headers);
