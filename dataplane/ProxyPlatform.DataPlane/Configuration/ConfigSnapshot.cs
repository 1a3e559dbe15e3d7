using System.Collections;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using ProxyPlatform.Configuration;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>A spec together with the revision of its last change.</summary>
public readonly record struct Revisioned<T>(T Spec, long Revision);

/// <summary>
/// The whole configuration a worker serves at one revision: every resource of its pool by kind, each
/// decoded into its kind's spec type (<see cref="ResourceKinds"/>). Immutable: every update builds a new
/// snapshot, which is swapped in whole.
/// </summary>
public sealed class ConfigSnapshot
{
    private static readonly ImmutableDictionary<ResourceKey, Revisioned<object>> None = ImmutableDictionary<ResourceKey, Revisioned<object>>.Empty;

    /// <summary>Each kind's resources, at the index of its kind.</summary>
    private readonly ImmutableDictionary<ResourceKey, Revisioned<object>>[] _byKind;

    private ConfigSnapshot(long revision, ImmutableDictionary<ResourceKey, Revisioned<object>>[] byKind)
    {
        Revision = revision;
        _byKind = byKind;
    }

    public static ConfigSnapshot Empty { get; } = new(0, [.. Enumerable.Repeat(None, ResourceKinds.All.Max(k => (int)k.Kind) + 1)]);

    public long Revision { get; }
    public ResourceMap<TenantSpec> Tenants => Of<TenantSpec>(ResourceKind.Tenant);
    public ResourceMap<ClusterDefinition> Clusters => Of<ClusterDefinition>(ResourceKind.Cluster);
    public ResourceMap<RouteSpec> Routes => Of<RouteSpec>(ResourceKind.Route);
    /// <summary>The control plane's verdicts on each cluster's backends, keyed like the cluster but of their own kind.</summary>
    public ResourceMap<ClusterHealthSpec> Health => Of<ClusterHealthSpec>(ResourceKind.BackendHealth);

    /// <summary>The HTTP-01 challenges of ACME orders in progress, by certificate.</summary>
    public ResourceMap<AcmeChallengeSpec> AcmeChallenges => Of<AcmeChallengeSpec>(ResourceKind.AcmeChallenge);

    private ResourceMap<T> Of<T>(ResourceKind kind) => new(_byKind[(int)kind]);

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
        var builders = start._byKind.Select(k => k.ToBuilder()).ToArray();
        next = null;

        foreach (var wire in update.Removals)
        {
            if (!ResourceKinds.IsKnown((ResourceKind)(int)wire.Kind))
            {
                rejection = $"removal of resource {wire.Tenant}/{wire.Id}: unknown resource kind {wire.Kind}.";
                return false;
            }
            builders[(int)wire.Kind].Remove(new ResourceKey((ResourceKind)(int)wire.Kind, wire.Tenant, wire.Id));
        }

        foreach (var resource in update.Upserts)
        {
            if (!ResourceKinds.TryFromWire(resource.Key, out var key, out var problem))
            {
                rejection = problem!;
                return false;
            }
            object? spec;
            try
            {
                spec = ResourceKinds.Of(key.Kind).Decode(resource.SpecJson.Span);
            }
            catch (JsonException ex)
            {
                rejection = $"{key}: the spec is not valid JSON for a {ResourceKinds.Of(key.Kind).Name}: {ex.Message}";
                return false;
            }
            if (spec is null)
            {
                rejection = $"{key}: the spec is null.";
                return false;
            }
            builders[(int)key.Kind][key] = new Revisioned<object>(spec, resource.Revision);
        }

        rejection = null;
        next = new ConfigSnapshot(update.Revision, [.. builders.Select(b => b.ToImmutable())]);
        return true;
    }
}

/// <summary>A snapshot's resources of one kind, by key, with their specs as that kind's type.</summary>
public readonly struct ResourceMap<T>(ImmutableDictionary<ResourceKey, Revisioned<object>> map) : IEnumerable<KeyValuePair<ResourceKey, Revisioned<T>>>
{
    public int Count => map.Count;

    public IEnumerable<ResourceKey> Keys => map.Keys;

    public bool ContainsKey(ResourceKey key) => map.ContainsKey(key);

    public Revisioned<T> this[ResourceKey key] => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"The snapshot holds no {key}.");

    public bool TryGetValue(ResourceKey key, out Revisioned<T> value)
    {
        if (map.TryGetValue(key, out var stored))
        {
            value = new Revisioned<T>((T)stored.Spec, stored.Revision);
            return true;
        }
        value = default;
        return false;
    }

    public Revisioned<T>? GetValueOrDefault(ResourceKey key) => TryGetValue(key, out var value) ? value : null;

    public IEnumerator<KeyValuePair<ResourceKey, Revisioned<T>>> GetEnumerator()
    {
        foreach (var (key, stored) in map)
            yield return new(key, new Revisioned<T>((T)stored.Spec, stored.Revision));
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
