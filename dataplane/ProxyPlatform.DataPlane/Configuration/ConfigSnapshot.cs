using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using ProxyPlatform.Configuration;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>Where a resource lives: its tenant and its own ID (for a tenant, the tenant ID again).</summary>
public readonly record struct ResourceId(string Tenant, string Id)
{
    public override string ToString() => $"{Tenant}/{Id}";
}

/// <summary>A spec together with the revision of its last change.</summary>
public sealed record Revisioned<T>(T Spec, long Revision);

/// <summary>
/// The whole configuration a worker serves at one revision: tenants, clusters (with their backends)
/// and routes. Immutable: every update builds a new snapshot, which is swapped in whole.
/// </summary>
public sealed record ConfigSnapshot
{
    public static ConfigSnapshot Empty { get; } = new();

    public long Revision { get; init; }
    public ImmutableDictionary<string, Revisioned<TenantSpec>> Tenants { get; init; } = ImmutableDictionary<string, Revisioned<TenantSpec>>.Empty;
    public ImmutableDictionary<ResourceId, Revisioned<ClusterDefinition>> Clusters { get; init; } = ImmutableDictionary<ResourceId, Revisioned<ClusterDefinition>>.Empty;
    public ImmutableDictionary<ResourceId, Revisioned<RouteSpec>> Routes { get; init; } = ImmutableDictionary<ResourceId, Revisioned<RouteSpec>>.Empty;
    /// <summary>The control plane's verdicts on each cluster's backends, keyed like the cluster.</summary>
    public ImmutableDictionary<ResourceId, Revisioned<ClusterHealthSpec>> Health { get; init; } = ImmutableDictionary<ResourceId, Revisioned<ClusterHealthSpec>>.Empty;

    /// <summary>
    /// True when <paramref name="update"/> can be applied on top of this snapshot: it is a full
    /// snapshot (base 0), or a delta from exactly this revision.
    /// </summary>
    public bool Precedes(ConfigUpdate update) => update.BaseRevision == 0 || update.BaseRevision == Revision;

    /// <summary>
    /// The snapshot <paramref name="update"/> makes: a full snapshot replaces everything, a delta
    /// replaces its upserts by key and deletes its removals. Fails with a reason naming the
    /// resource when a resource's key or JSON cannot be read. The caller checks <see cref="Precedes"/>.
    /// </summary>
    public bool TryApply(ConfigUpdate update, [NotNullWhen(true)] out ConfigSnapshot? next, [NotNullWhen(false)] out string? rejection)
    {
        var start = update.BaseRevision == 0 ? Empty : this;
        var tenants = start.Tenants.ToBuilder();
        var clusters = start.Clusters.ToBuilder();
        var routes = start.Routes.ToBuilder();
        var health = start.Health.ToBuilder();
        next = null;

        foreach (var key in update.Removals)
        {
            switch (key.Kind)
            {
                case ResourceKind.Tenant:
                    tenants.Remove(key.Tenant);
                    break;
                case ResourceKind.Cluster:
                    clusters.Remove(new ResourceId(key.Tenant, key.Id));
                    break;
                case ResourceKind.Route:
                    routes.Remove(new ResourceId(key.Tenant, key.Id));
                    break;
                case ResourceKind.BackendHealth:
                    health.Remove(new ResourceId(key.Tenant, key.Id));
                    break;
                default:
                    rejection = $"removal of {Describe(key)}: unknown resource kind {key.Kind}.";
                    return false;
            }
        }

        foreach (var resource in update.Upserts)
        {
            var key = resource.Key ?? new ResourceKey();
            if (!ConfigValidator.IsValidId(key.Tenant) || !ConfigValidator.IsValidId(key.Id))
            {
                rejection = $"{Describe(key)}: the key's tenant and ID must be valid IDs (a-z, 0-9 and '-').";
                return false;
            }
            var id = new ResourceId(key.Tenant, key.Id);
            switch (key.Kind)
            {
                case ResourceKind.Tenant:
                    if (key.Id != key.Tenant)
                    {
                        rejection = $"{Describe(key)}: a tenant's ID must be its tenant ('{key.Id}' given).";
                        return false;
                    }
                    if (!TryDecode<TenantSpec>(resource, out var tenant, out rejection))
                        return false;
                    tenants[key.Tenant] = new(tenant, resource.Revision);
                    break;
                case ResourceKind.Cluster:
                    if (!TryDecode<ClusterDefinition>(resource, out var cluster, out rejection))
                        return false;
                    clusters[id] = new(cluster, resource.Revision);
                    break;
                case ResourceKind.Route:
                    if (!TryDecode<RouteSpec>(resource, out var route, out rejection))
                        return false;
                    routes[id] = new(route, resource.Revision);
                    break;
                case ResourceKind.BackendHealth:
                    if (!TryDecode<ClusterHealthSpec>(resource, out var verdicts, out rejection))
                        return false;
                    health[id] = new(verdicts, resource.Revision);
                    break;
                default:
                    rejection = $"{Describe(key)}: unknown resource kind {key.Kind}.";
                    return false;
            }
        }

        rejection = null;
        next = new ConfigSnapshot
        {
            Revision = update.Revision,
            Tenants = tenants.ToImmutable(),
            Clusters = clusters.ToImmutable(),
            Routes = routes.ToImmutable(),
            Health = health.ToImmutable(),
        };
        return true;
    }

    /// <summary>How a reason names a resource: <c>tenant acme</c>, <c>cluster acme/web</c>, <c>route acme/api</c>, <c>health of cluster acme/web</c>.</summary>
    public static string Describe(ResourceKey key) => key.Kind switch
    {
        ResourceKind.Tenant => $"tenant {key.Tenant}",
        ResourceKind.Cluster => $"cluster {key.Tenant}/{key.Id}",
        ResourceKind.Route => $"route {key.Tenant}/{key.Id}",
        ResourceKind.BackendHealth => $"health of cluster {key.Tenant}/{key.Id}",
        _ => $"resource {key.Tenant}/{key.Id}",
    };

    private static bool TryDecode<T>(Resource resource, [NotNullWhen(true)] out T? spec, [NotNullWhen(false)] out string? rejection)
        where T : class
    {
        spec = null;
        try
        {
            spec = JsonSerializer.Deserialize<T>(resource.SpecJson.Span, ConfigJson.Options);
        }
        catch (JsonException ex)
        {
            rejection = $"{Describe(resource.Key)}: the spec is not valid JSON for a {resource.Key.Kind.ToString().ToLowerInvariant()}: {ex.Message}";
            return false;
        }
        if (spec is null)
        {
            rejection = $"{Describe(resource.Key)}: the spec is null.";
            return false;
        }
        rejection = null;
        return true;
    }
}
