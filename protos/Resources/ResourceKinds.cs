using System.Text;
using System.Text.Json;
using ProxyPlatform.Configuration;
using Wire = ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.Resources;

/// <summary>
/// The kinds of configuration resource: how <c>config_resources.kind</c> stores them, how grains and
/// the stream name them and how a worker files them. The numbers are the wire enum's (dataplane.proto).
/// </summary>
public enum ResourceKind
{
    Tenant = 1,
    Cluster = 2,
    Route = 3,
    /// <summary>The verdicts on a cluster's backends, keyed like the cluster (<see cref="ClusterHealthSpec"/>).</summary>
    BackendHealth = 4,
    /// <summary>A data-plane pool's own settings (<see cref="PoolSpec"/>); it belongs to no tenant and lives in its own pool.</summary>
    Pool = 5,
    /// <summary>A tenant's TLS certificate (<see cref="CertificateBundle"/>), keyed <c>tenant/certificate</c>; removed with its tenant.</summary>
    Certificate = 6,
    /// <summary>The HTTP-01 challenges of a certificate's ACME order in progress (<see cref="AcmeChallengeSpec"/>), keyed like the certificate.</summary>
    AcmeChallenge = 7,
}

/// <summary>Names one resource: its kind, its tenant, and its own ID (for a tenant, the tenant again).</summary>
public readonly record struct ResourceKey(ResourceKind Kind, string Tenant, string Id)
{
    public static ResourceKey OfTenant(string tenant) => new(ResourceKind.Tenant, tenant, tenant);
    public static ResourceKey OfCluster(string tenant, string cluster) => new(ResourceKind.Cluster, tenant, cluster);
    public static ResourceKey OfRoute(string tenant, string route) => new(ResourceKind.Route, tenant, route);
    public static ResourceKey HealthOf(string tenant, string cluster) => new(ResourceKind.BackendHealth, tenant, cluster);
    public static ResourceKey OfPool(string pool) => new(ResourceKind.Pool, "", pool);
    public static ResourceKey OfCertificate(string tenant, string certificate) => new(ResourceKind.Certificate, tenant, certificate);
    public static ResourceKey ChallengeOf(string tenant, string certificate) => new(ResourceKind.AcmeChallenge, tenant, certificate);

    /// <summary>The tenant-qualified ID, <c>acme/web</c>: how problems, logs and metrics name a route or a cluster.</summary>
    public string QualifiedId => $"{Tenant}/{Id}";

    /// <summary>How messages name it: <c>tenant acme</c>, <c>cluster acme/web</c>, <c>route acme/api</c>, <c>health of cluster acme/web</c>.</summary>
    public override string ToString() => ResourceKinds.IsKnown(Kind)
        ? ResourceKinds.Of(Kind).Describe(this)
        : $"resource of kind {(int)Kind} {Tenant}/{Id}";
}

/// <summary>A resource another one refers to, and the field of the referring resource that names it.</summary>
public readonly record struct ResourceReference(ResourceKey Target, string Field);

/// <summary>
/// What the platform knows of one kind of resource, in one place: its name, the type of its spec (its
/// JSON is that type in <see cref="ConfigJson"/>'s shape everywhere: admin bodies, committed rows, the
/// stream, last-known-good), what it refers to, and whether it changes routing on a worker.
/// </summary>
/// <param name="Name">The kind in files and messages (<c>backend-health</c>).</param>
/// <param name="Reference">
/// The resource this one cannot exist without, besides its tenant (a route's cluster), read from its
/// JSON, and the field that names it; null when there is none. The distribution refuses a resource
/// whose reference is missing and the removal of a resource that others still refer to.
/// </param>
/// <param name="Owned">True when a tenant must delete its resources of this kind before it can be deleted itself.</param>
/// <param name="TenantScoped">False for a kind that belongs to no tenant (a pool): its key's tenant is empty.</param>
/// <param name="RemovedWithTenant">
/// True when deleting a tenant removes its resources of this kind in the same change (certificates and
/// ACME challenges), instead of requiring their deletion first (<paramref name="Owned"/>).
/// </param>
/// <param name="ChangesRouting">True when a change of this kind can change which route a request matches.</param>
public sealed record ResourceKindInfo(
    ResourceKind Kind,
    string Name,
    Type SpecType,
    Func<ResourceKey, string> Describe,
    Func<ResourceKey, string, ResourceReference?> Reference,
    bool Owned,
    bool ChangesRouting,
    bool TenantScoped = true,
    bool RemovedWithTenant = false)
{
    public object? Decode(ReadOnlySpan<byte> json) => JsonSerializer.Deserialize(json, SpecType, ConfigJson.Options);
}

/// <summary>The table of resource kinds (<see cref="ResourceKindInfo"/>): a new kind is one entry here plus its own code.</summary>
public static class ResourceKinds
{
    private static readonly ResourceKindInfo?[] ByKind = Build(
        new(ResourceKind.Tenant, "tenant", typeof(TenantSpec),
            key => $"tenant {key.Tenant}", static (_, _) => null, Owned: false, ChangesRouting: true),
        new(ResourceKind.Cluster, "cluster", typeof(ClusterDefinition),
            key => $"cluster {key.Tenant}/{key.Id}", static (_, _) => null, Owned: true, ChangesRouting: false),
        new(ResourceKind.Route, "route", typeof(RouteSpec),
            key => $"route {key.Tenant}/{key.Id}",
            static (key, json) => new ResourceReference(ResourceKey.OfCluster(key.Tenant, TopLevelString(json, "cluster") ?? ""), "cluster"), Owned: true, ChangesRouting: true),
        new(ResourceKind.BackendHealth, "backend-health", typeof(ClusterHealthSpec),
            key => $"health of cluster {key.Tenant}/{key.Id}",
            // Verdicts go with their cluster: its deletion removes them in the same change.
            static (key, _) => new ResourceReference(ResourceKey.OfCluster(key.Tenant, key.Id), ""), Owned: false, ChangesRouting: false),
        new(ResourceKind.Pool, "pool", typeof(PoolSpec),
            key => $"pool {key.Id}", static (_, _) => null, Owned: false, ChangesRouting: false, TenantScoped: false),
        new(ResourceKind.Certificate, "certificate", typeof(CertificateBundle),
            key => $"certificate {key.Tenant}/{key.Id}", static (_, _) => null, Owned: false, ChangesRouting: false, RemovedWithTenant: true),
        new(ResourceKind.AcmeChallenge, "acme-challenge", typeof(AcmeChallengeSpec),
            key => $"ACME challenges of certificate {key.Tenant}/{key.Id}", static (_, _) => null, Owned: false, ChangesRouting: false, RemovedWithTenant: true));

    public static IEnumerable<ResourceKindInfo> All => ByKind.OfType<ResourceKindInfo>();

    public static bool IsKnown(ResourceKind kind) => (int)kind > 0 && (int)kind < ByKind.Length && ByKind[(int)kind] is not null;

    public static ResourceKindInfo Of(ResourceKind kind) =>
        IsKnown(kind) ? ByKind[(int)kind]! : throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a resource kind.");

    public static ResourceKindInfo? Named(string name) => All.FirstOrDefault(k => k.Name == name);

    /// <summary>The key as the stream carries it.</summary>
    public static Wire.ResourceRef ToWire(ResourceKey key) => new() { Kind = (Wire.ResourceType)(int)key.Kind, Tenant = key.Tenant, Id = key.Id };

    /// <summary>
    /// The key the stream carried, when it names a known kind with valid IDs (a tenant's ID being its
    /// tenant); otherwise why not.
    /// </summary>
    public static bool TryFromWire(Wire.ResourceRef? wire, out ResourceKey key, out string? problem)
    {
        wire ??= new Wire.ResourceRef();
        key = new ResourceKey((ResourceKind)(int)wire.Kind, wire.Tenant, wire.Id);
        problem = !IsKnown(key.Kind) ? $"{key}: unknown resource kind {wire.Kind}."
            : !Of(key.Kind).TenantScoped ? (key.Tenant.Length == 0 && ConfigValidator.IsValidId(key.Id) ? null : $"{key}: a {Of(key.Kind).Name} belongs to no tenant and needs a valid ID.")
            : !ConfigValidator.IsValidId(key.Tenant) || !ConfigValidator.IsValidId(key.Id) ? $"{key}: the key's tenant and ID must be valid IDs (a-z, 0-9 and '-')."
            : key.Kind == ResourceKind.Tenant && key.Id != key.Tenant ? $"{key}: a tenant's ID must be its tenant ('{key.Id}' given)."
            : null;
        return problem is null;
    }

    /// <summary>
    /// The value of a top-level string property of a JSON object, without materialising the rest: a
    /// route's cluster is read on every commit and on every check of the pool's invariants.
    /// </summary>
    private static string? TopLevelString(string json, string property)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            return null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var match = reader.ValueTextEquals(property);
            reader.Read();
            if (match)
                return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            reader.Skip();
        }
        return null;
    }

    private static ResourceKindInfo?[] Build(params ResourceKindInfo[] kinds)
    {
        var table = new ResourceKindInfo?[kinds.Max(k => (int)k.Kind) + 1];
        foreach (var kind in kinds)
            table[(int)kind.Kind] = kind;
        return table;
    }
}
