using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane;

/// <summary>The kinds of configuration resource the data plane receives.</summary>
public enum ConfigKind
{
    Tenant = 1,
    Cluster = 2,
    Route = 3,
    /// <summary>The health verdicts on a cluster's backends; keyed like the cluster (see <see cref="ClusterHealthSpec"/>).</summary>
    BackendHealth = 4,
}

/// <summary>Addresses one distributed resource; for a tenant, <see cref="Id"/> is the tenant again.</summary>
[GenerateSerializer, Immutable, Alias("pp.ConfigKey")]
public sealed record ConfigKey([property: Id(0)] ConfigKind Kind, [property: Id(1)] string Tenant, [property: Id(2)] string Id)
{
    public override string ToString() => $"{Kind.ToString().ToLowerInvariant()} {Tenant}/{Id}";
}

/// <summary>
/// One resource of a pool's configuration at a revision, as JSON of the configuration model;
/// <see cref="Json"/> is null when the resource was removed at that revision (a tombstone).
/// </summary>
[GenerateSerializer, Immutable, Alias("pp.ConfigEntry")]
public sealed record ConfigEntry([property: Id(0)] ConfigKey Key, [property: Id(1)] long Revision, [property: Id(2)] string? Json)
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
/// A pool's configuration as a whole: every resource and the tombstones it still remembers.
/// Removals older than <see cref="Horizon"/> are forgotten, so a worker behind it needs a full snapshot.
/// </summary>
[GenerateSerializer, Immutable, Alias("pp.ConfigSnapshot")]
public sealed record PoolSnapshot(
    [property: Id(0)] string Pool,
    [property: Id(1)] long Revision,
    [property: Id(2)] long Horizon,
    [property: Id(3)] IReadOnlyList<ConfigEntry> Entries);

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
