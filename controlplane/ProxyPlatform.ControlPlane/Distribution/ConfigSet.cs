using ProxyPlatform.Configuration;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// A pool's committed resources with the indexes needed to check the invariants that span
/// resources (<see cref="ResourceKindInfo.Reference"/>, <see cref="ResourceKindInfo.Owned"/>).
/// Removals are kept as tombstones so deltas can name them, until every worker has applied past
/// them (<see cref="Prune"/>).
/// </summary>
public sealed class ConfigSet
{
    private readonly Dictionary<ResourceKey, ConfigEntry> _entries = [];
    private readonly Dictionary<ResourceKey, ResourceKey> _referenceOf = [];
    private readonly Dictionary<ResourceKey, HashSet<ResourceKey>> _referrers = [];
    private readonly Dictionary<string, int> _ownedByTenant = [];

    public long Revision { get; private set; }

    public int Count => _entries.Count;

    /// <summary>How many of <see cref="Entries"/> are tombstones.</summary>
    public int Tombstones { get; private set; }

    public IEnumerable<ConfigEntry> Entries => _entries.Values;

    /// <summary>What the tenancy rules read of the committed set: claims, quotas, limits, use.</summary>
    public TenancyIndex Tenancy { get; } = new();

    /// <summary>The resource's entry (a tombstone when it was removed and not yet pruned), or null.</summary>
    public ConfigEntry? Get(ResourceKey key) => _entries.GetValueOrDefault(key);

    public bool Exists(ResourceKey key) => _entries.TryGetValue(key, out var e) && !e.IsRemoval;

    /// <summary>The live resources that refer to <paramref name="key"/> (a cluster's routes and verdicts).</summary>
    public IReadOnlyCollection<ResourceKey> ReferrersOf(ResourceKey key) => _referrers.TryGetValue(key, out var set) ? set : [];

    /// <summary>How many live resources a tenant owns (of the kinds it must delete before it can be deleted).</summary>
    public int OwnedBy(string tenant) => _ownedByTenant.GetValueOrDefault(tenant);

    public void Apply(ConfigEntry entry)
    {
        var key = entry.Key;
        var wasLive = Exists(key);
        var wasTombstone = _entries.ContainsKey(key) && !wasLive;
        _entries[key] = entry;
        Tombstones += (entry.IsRemoval ? 1 : 0) - (wasTombstone ? 1 : 0);
        Revision = Math.Max(Revision, entry.Revision);
        Tenancy.Apply(entry);
        if (ResourceKinds.Of(key.Kind).Owned && wasLive == entry.IsRemoval)
            _ownedByTenant[key.Tenant] = OwnedBy(key.Tenant) + (entry.IsRemoval ? -1 : 1);
        if (_referenceOf.Remove(key, out var previous))
            _referrers[previous].Remove(key);
        if (!entry.IsRemoval && ReferenceOf(entry) is { } reference)
        {
            _referenceOf[key] = reference.Target;
            if (!_referrers.TryGetValue(reference.Target, out var referrers))
                _referrers[reference.Target] = referrers = [];
            referrers.Add(key);
        }
    }

    /// <summary>
    /// Forgets the tombstones at or below <paramref name="revision"/>: no one will ask for a delta from
    /// before them any more (whoever does gets a snapshot). Returns how many were dropped.
    /// </summary>
    public int Prune(long revision)
    {
        var dropped = _entries.Values.Where(e => e.IsRemoval && e.Revision <= revision).Select(e => e.Key).ToList();
        foreach (var key in dropped)
            _entries.Remove(key);
        Tombstones -= dropped.Count;
        return dropped.Count;
    }

    /// <summary>The live resources of a tenant that go when it goes (<see cref="ResourceKindInfo.RemovedWithTenant"/>): a scan, as tenants are seldom deleted.</summary>
    public IEnumerable<ResourceKey> RemovedWithTenant(string tenant) =>
        _entries.Values.Where(e => !e.IsRemoval && e.Key.Tenant == tenant && ResourceKinds.Of(e.Key.Kind).RemovedWithTenant).Select(e => e.Key);

    /// <summary>The entries changed after <paramref name="revision"/>, removals included.</summary>
    public List<ConfigEntry> ChangedSince(long revision) => _entries.Values.Where(e => e.Revision > revision).ToList();

    public static ResourceReference? ReferenceOf(ConfigEntry entry) =>
        entry.Json is { } json ? ResourceKinds.Of(entry.Key.Kind).Reference(entry.Key, json) : null;
}

/// <summary>
/// Changes accepted for the next commit, staged over the committed set: each change is checked
/// against the set as the earlier changes of the batch leave it, without touching the set, so
/// nothing uncommitted is ever visible to readers.
/// </summary>
/// <param name="pool">The pool's ID.</param>
/// <param name="committed">The pool's committed set.</param>
/// <param name="defaultQuotas">The quotas of a tenant that sets none; null: unlimited.</param>
/// <param name="overlapAnalysis">Refuse changes that leave a route fully shadowed (<see cref="TenancyRules"/>); the sequencer passes <c>Routing:OverlapAnalysis</c>.</param>
public sealed class ConfigBatch(string pool, ConfigSet committed, TenantQuotas? defaultQuotas = null, bool overlapAnalysis = false)
{
    private readonly Dictionary<ResourceKey, ConfigEntry> _staged = [];
    private TenancyRules? _rules;

    private TenancyRules Rules => _rules ??= new TenancyRules(pool, committed, defaultQuotas, Current, overlapAnalysis);

    private ConfigEntry? Current(ResourceKey key) => _staged.TryGetValue(key, out var e) ? e : committed.Get(key);

    /// <summary>
    /// Rejects a change that would break an invariant (and stages nothing); otherwise stages it and
    /// returns it as it is committed: a tenant's removal takes with it the resources that go with it.
    /// </summary>
    public IReadOnlyList<ConfigEntry> Stage(IReadOnlyList<ConfigEntry> change)
    {
        change = WithDependents(change);
        var before = new Dictionary<ResourceKey, ConfigEntry?>();
        try
        {
            foreach (var entry in change)
            {
                before.TryAdd(entry.Key, _staged.GetValueOrDefault(entry.Key));
                _staged[entry.Key] = entry;
            }
            // Checked once the whole change is staged: a cluster and the verdicts that go with it leave together.
            foreach (var entry in change)
                Check(entry);
            var added = Rules.Check(change, key => before[key] ?? committed.Get(key));
            Rules.Accept(added);
            return change;
        }
        catch
        {
            foreach (var (key, previous) in before)
            {
                if (previous is null)
                    _staged.Remove(key);
                else
                    _staged[key] = previous;
            }
            throw;
        }
    }

    private IReadOnlyList<ConfigEntry> WithDependents(IReadOnlyList<ConfigEntry> change)
    {
        List<ConfigEntry>? expanded = null;
        foreach (var entry in change)
        {
            if (entry.Key.Kind != ResourceKind.Tenant || !entry.IsRemoval)
                continue;
            var tenant = entry.Key.Tenant;
            var keys = committed.RemovedWithTenant(tenant).Where(k => !_staged.ContainsKey(k))
                .Concat(_staged.Values.Where(e => !e.IsRemoval && e.Key.Tenant == tenant && ResourceKinds.Of(e.Key.Kind).RemovedWithTenant).Select(e => e.Key))
                .Where(k => !change.Any(e => e.Key == k));
            foreach (var key in keys)
                (expanded ??= [.. change]).Add(new ConfigEntry(key, entry.Revision, null));
        }
        return expanded ?? change;
    }

    private void Check(ConfigEntry entry)
    {
        var key = entry.Key;
        var kind = ResourceKinds.Of(key.Kind);
        if (!entry.IsRemoval)
        {
            if (kind.TenantScoped && key.Kind != ResourceKind.Tenant && !Exists(ResourceKey.OfTenant(key.Tenant)))
                throw AdminException.NotFound($"Tenant '{key.Tenant}'");
            if (ConfigSet.ReferenceOf(entry) is { } reference && !Exists(reference.Target))
            {
                var target = ResourceKinds.Of(reference.Target.Kind).Name;
                throw AdminException.Invalid(reference.Field,
                    $"tenant '{key.Tenant}' has no {target} '{reference.Target.Id}'; create the {target} first.");
            }
            return;
        }
        if (Referrers(key) is { Count: > 0 } referrers)
        {
            var names = string.Join(", ", referrers.GroupBy(r => r.Kind).Select(g =>
                $"{ResourceKinds.Of(g.Key).Name}(s) {string.Join(", ", g.Select(r => r.Id).Order(StringComparer.Ordinal).Take(10))}"));
            throw AdminException.Conflict($"{Capitalised(kind.Name)} '{key.Tenant}/{key.Id}' is used by {names}; delete or repoint them first.");
        }
        if (key.Kind == ResourceKind.Tenant && OwnedBy(key.Tenant) is > 0 and var owned)
            throw AdminException.Conflict($"Tenant '{key.Tenant}' still has {owned} resource(s) (clusters, routes); delete them first.");
    }

    private bool Exists(ResourceKey key) => _staged.TryGetValue(key, out var e) ? !e.IsRemoval : committed.Exists(key);

    /// <summary>The live resources that refer to <paramref name="key"/>, with the batch's changes applied.</summary>
    private List<ResourceKey> Referrers(ResourceKey key)
    {
        var referrers = committed.ReferrersOf(key).Where(r => !_staged.ContainsKey(r)).ToList();
        foreach (var staged in _staged.Values)
        {
            if (!staged.IsRemoval && ConfigSet.ReferenceOf(staged)?.Target == key)
                referrers.Add(staged.Key);
        }
        return referrers;
    }

    private int OwnedBy(string tenant)
    {
        var owned = committed.OwnedBy(tenant);
        foreach (var e in _staged.Values)
        {
            if (e.Key.Tenant != tenant || !ResourceKinds.Of(e.Key.Kind).Owned)
                continue;
            owned += (committed.Exists(e.Key), e.IsRemoval) switch
            {
                (true, true) => -1,
                (false, false) => 1,
                _ => 0,
            };
        }
        return owned;
    }

    private static string Capitalised(string name) => char.ToUpperInvariant(name[0]) + name[1..];
}
