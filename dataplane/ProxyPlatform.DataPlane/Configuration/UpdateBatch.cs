using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>
/// Folds consecutive updates into one, so a burst costs one validation, one swap in YARP (one
/// rebuild of the route matcher) and one last-known-good write instead of one each.
/// </summary>
public static class UpdateBatch
{
    /// <summary>
    /// One update with the effect of applying <paramref name="updates"/> in order, or null when
    /// they do not form a chain (a delta whose base is not the revision before it).
    /// </summary>
    public static ConfigUpdate? Merge(IReadOnlyList<ConfigUpdate> updates)
    {
        if (updates.Count == 1)
            return updates[0];
        // A snapshot replaces everything before it.
        var start = 0;
        for (var i = updates.Count - 1; i >= 0; i--)
        {
            if (updates[i].BaseRevision == 0)
            {
                start = i;
                break;
            }
        }
        var first = updates[start];
        var upserts = new Dictionary<ResourceRef, Resource>();
        var removals = new Dictionary<ResourceRef, ResourceRef>();
        var revision = first.BaseRevision;
        for (var i = start; i < updates.Count; i++)
        {
            var update = updates[i];
            if (i > start && update.BaseRevision != revision)
                return null;
            foreach (var resource in update.Upserts)
            {
                removals.Remove(resource.Key);
                upserts[resource.Key] = resource;
            }
            foreach (var key in update.Removals)
            {
                upserts.Remove(key);
                if (first.BaseRevision != 0)
                    removals[key] = key;
            }
            revision = update.Revision;
        }
        var merged = new ConfigUpdate { BaseRevision = first.BaseRevision, Revision = revision };
        merged.Upserts.AddRange(upserts.Values);
        merged.Removals.AddRange(removals.Values);
        // A saved record lists every resource rejected as of itself: the last one's list is the chain's.
        merged.Rejected.AddRange(updates[^1].Rejected);
        return merged;
    }

    /// <summary>True when the update can change routing (<see cref="Resources.ResourceKindInfo.ChangesRouting"/>: routes, tenants).</summary>
    public static bool TouchesRoutes(ConfigUpdate update) =>
        update.BaseRevision == 0
        || update.Upserts.Any(r => ChangesRouting(r.Key.Kind))
        || update.Removals.Any(k => ChangesRouting(k.Kind));

    private static bool ChangesRouting(ResourceType kind) =>
        Resources.ResourceKinds.IsKnown((Resources.ResourceKind)(int)kind) && Resources.ResourceKinds.Of((Resources.ResourceKind)(int)kind).ChangesRouting;
}
