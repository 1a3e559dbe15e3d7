using System.Collections;
using System.Collections.Immutable;
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
    /// <summary>The pool's own settings; a worker is sent the one of its pool.</summary>
    public ResourceMap<PoolSpec> Pools => Of<PoolSpec>(ResourceKind.Pool);

    /// <summary>The tenants' TLS certificates, each with its private key in clear (the stream opens them).</summary>
    public ResourceMap<CertificateBundle> Certificates => Of<CertificateBundle>(ResourceKind.Certificate);

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
    /// replaces its upserts by key and deletes its removals. A resource whose key or JSON cannot be
    /// read is left out alone (this snapshot's version of it, if any, stays) and listed in
    /// <paramref name="rejected"/>. The caller checks <see cref="Precedes"/>.
    /// </summary>
    public ConfigSnapshot Apply(ConfigUpdate update, out IReadOnlyList<ResourceRejection> rejected)
    {
        var start = update.BaseRevision == 0 ? Empty : this;
        var builders = start._byKind.Select(k => k.ToBuilder()).ToArray();
        var problems = new List<ResourceRejection>();

        foreach (var wire in update.Removals)
        {
            // A removal of a kind this worker does not know removes nothing it serves.
            if (ResourceKinds.IsKnown((ResourceKind)(int)wire.Kind))
                builders[(int)wire.Kind].Remove(new ResourceKey((ResourceKind)(int)wire.Kind, wire.Tenant, wire.Id));
        }

        foreach (var resource in update.Upserts)
        {
            if (!ResourceKinds.TryFromWire(resource.Key, out var key, out var problem))
            {
                problems.Add(new ResourceRejection(key, resource.Revision, problem!));
                continue;
            }
            object? spec;
            try
            {
                spec = ResourceKinds.Of(key.Kind).Decode(resource.SpecJson.Span);
            }
            catch (JsonException ex)
            {
                problems.Add(new ResourceRejection(key, resource.Revision, $"{key}: the spec is not valid JSON for a {ResourceKinds.Of(key.Kind).Name}: {ex.Message}"));
                Keep(builders, key);
                continue;
            }
            if (spec is null)
            {
                problems.Add(new ResourceRejection(key, resource.Revision, $"{key}: the spec is null."));
                Keep(builders, key);
                continue;
            }
            builders[(int)key.Kind][key] = new Revisioned<object>(spec, resource.Revision);
        }

        rejected = problems;
        return new ConfigSnapshot(update.Revision, [.. builders.Select(b => b.ToImmutable())]);

        // A full snapshot starts empty: the version served so far is carried over.
        void Keep(ImmutableDictionary<ResourceKey, Revisioned<object>>.Builder[] into, ResourceKey key)
        {
            if (_byKind[(int)key.Kind].TryGetValue(key, out var served))
                into[(int)key.Kind][key] = served;
        }
    }

    /// <summary>This snapshot with <paramref name="keys"/> as <paramref name="previous"/> has them (absent there: absent here).</summary>
    public ConfigSnapshot Reverted(IReadOnlyCollection<ResourceKey> keys, ConfigSnapshot previous)
    {
        if (keys.Count == 0)
            return this;
        var byKind = (ImmutableDictionary<ResourceKey, Revisioned<object>>[])_byKind.Clone();
        foreach (var key in keys)
        {
            var kind = (int)key.Kind;
            byKind[kind] = previous._byKind[kind].TryGetValue(key, out var served) ? byKind[kind].SetItem(key, served) : byKind[kind].Remove(key);
        }
        return new ConfigSnapshot(Revision, byKind);
    }

    /// <summary>The version of <paramref name="key"/> this snapshot holds, as the stream carries it; null when it holds none.</summary>
    public Resource? ToWire(ResourceKey key)
    {
        if (!ResourceKinds.IsKnown(key.Kind) || !_byKind[(int)key.Kind].TryGetValue(key, out var served))
            return null;
        return new Resource
        {
            Key = ResourceKinds.ToWire(key),
            Revision = served.Revision,
            SpecJson = Google.Protobuf.ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(served.Spec, ResourceKinds.Of(key.Kind).SpecType, ConfigJson.Options)),
        };
    }
}

/// <summary>A resource of an update that the worker does not serve as sent, the revision it came with, and why.</summary>
public sealed record ResourceRejection(ResourceKey Key, long Revision, string Reason);

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
