namespace ProxyPlatform.ControlPlane;

/// <summary>
/// A tenant's configuration document (its clusters with their backends, and its routes) applied as one
/// change: one apply or rollback of a tenant at a time, each checked against the configuration it
/// replaces (<c>If-Match</c>) and committed as one revision. Key: tenant ID.
/// </summary>
public interface ITenantConfigGrain : IGrainWithStringKey
{
    /// <summary>
    /// Makes the tenant's clusters and routes exactly <paramref name="desired"/> (validated entries, each its
    /// JSON as committed), through the pool's invariant checks; with <paramref name="dryRun"/> it checks and
    /// commits nothing. <paramref name="ifMatch"/> is compared with the current document's ETag.
    /// </summary>
    /// <remarks>
    /// Longer than the default grain call time-out: a document of thousands of resources is compared and checked
    /// in full before its commit (which keeps its own deadline) on a busy node.
    /// </remarks>
    [ResponseTimeout("00:00:30")]
    Task<ConfigApplyOutcome> Apply(ConfigEntry[] desired, string? ifMatch, bool dryRun);
}

/// <summary>
/// What an apply changed (or, dry, would change): for each resource it touches, its entry before and after
/// (<see cref="ConfigEntry.IsRemoval"/>: absent), in the same order; the revision when committed.
/// </summary>
[GenerateSerializer, Immutable, Alias("pp.ConfigApplyOutcome")]
public sealed record ConfigApplyOutcome(
    [property: Id(0)] long? Revision,
    [property: Id(1)] ConfigEntry[] Before,
    [property: Id(2)] ConfigEntry[] After)
{
    public bool Unchanged => Before.Length == 0;
}
