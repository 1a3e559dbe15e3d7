using System.Text.Json.Nodes;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Audit;

/// <summary>The audit trail's settings: <c>Audit:Enabled</c> (default true) and <c>Audit:RetentionDays</c> (default 90).</summary>
public sealed record AuditOptions
{
    /// <summary>Off only to measure what the trail costs: every accepted change is recorded otherwise.</summary>
    public bool Enabled { get; init; } = true;
    public int RetentionDays { get; init; } = 90;
    /// <summary>How often a node trims records older than the retention (<c>Audit:RetentionCheckEvery</c>, default one hour).</summary>
    public TimeSpan RetentionCheckEvery { get; init; } = TimeSpan.FromHours(1);

    public static AuditOptions From(IConfiguration configuration)
    {
        var defaults = new AuditOptions();
        var days = configuration.GetValue("Audit:RetentionDays", defaults.RetentionDays);
        if (days < 1)
            throw new InvalidOperationException($"Audit:RetentionDays must be at least 1 (it is {days}).");
        return new AuditOptions
        {
            Enabled = configuration.GetValue("Audit:Enabled", defaults.Enabled),
            RetentionDays = days,
            RetentionCheckEvery = configuration.GetValue("Audit:RetentionCheckEvery", defaults.RetentionCheckEvery),
        };
    }
}

/// <summary>
/// Turns the changes a pool commits into their audit records: one per change that has an author
/// (<see cref="ChangeContext"/>), with the resource's path, the action, and the resource before and
/// after (partial configuration documents when one change touches several resources).
/// </summary>
public static class AuditTrail
{
    public const string ConfigApply = "config.apply";
    public const string Rollback = "rollback";

    private static readonly HashSet<string> SecretFields = new(StringComparer.OrdinalIgnoreCase) { "privateKey", "secret", "password", "keyAuthorization" };

    /// <summary>
    /// The records of <paramref name="changes"/>, written in this order in one commit; <paramref name="current"/>
    /// is the committed JSON of a resource before the commit (changes earlier in the same commit count).
    /// </summary>
    public static List<AuditRow> Of(IReadOnlyList<(ChangeAuthor? Author, IReadOnlyList<ConfigEntry> Entries)> changes, Func<ResourceKey, string?> current)
    {
        var rows = new List<AuditRow>();
        var staged = new Dictionary<ResourceKey, string?>();
        for (var i = 0; i < changes.Count; i++)
        {
            var (author, entries) = changes[i];
            var audited = new List<(ResourceKey Key, string? Before, string? After)>();
            foreach (var entry in entries)
            {
                var before = staged.TryGetValue(entry.Key, out var s) ? s : current(entry.Key);
                staged[entry.Key] = entry.Json;
                if (IsAudited(entry.Key.Kind) && author is not null)
                    audited.Add((entry.Key, before, entry.Json));
            }
            if (author is null || audited.Count == 0)
                continue;
            rows.Add(Row(i + 1, author, audited));
        }
        return rows;
    }

    /// <summary>What an admin writes: not a cluster's health verdicts nor an ACME order's challenges.</summary>
    private static bool IsAudited(ResourceKind kind) =>
        kind is ResourceKind.Tenant or ResourceKind.Cluster or ResourceKind.Route or ResourceKind.Certificate or ResourceKind.Pool;

    private static AuditRow Row(int change, ChangeAuthor author, List<(ResourceKey Key, string? Before, string? After)> audited)
    {
        var tenant = audited[0].Key.Kind == ResourceKind.Pool ? null : audited[0].Key.Tenant;
        if (audited.Count == 1 && author.Action is not (ConfigApply or Rollback))
        {
            var (key, beforeJson, afterJson) = audited[0];
            var (resource, before, after) = Single(key, Parse(beforeJson), Parse(afterJson));
            return new AuditRow(change, author.ActorId, author.ActorName, author.RequestId, author.Action ?? Derived(before, after),
                tenant, resource, before?.ToJsonString(), after?.ToJsonString());
        }

        // Several resources in one change: one record, before and after as partial configuration documents.
        var beforeDoc = new JsonObject();
        var afterDoc = new JsonObject();
        foreach (var (key, b, a) in audited)
        {
            Place(beforeDoc, key, Parse(b));
            Place(afterDoc, key, Parse(a));
        }
        var tenantEntry = audited.FirstOrDefault(e => e.Key.Kind == ResourceKind.Tenant);
        var (path, action) = tenantEntry.Key.Kind == ResourceKind.Tenant && author.Action is not (ConfigApply or Rollback)
            ? ($"/v1/tenants/{tenant}", author.Action ?? Derived(Parse(tenantEntry.Before), Parse(tenantEntry.After)))
            : ($"/v1/tenants/{tenant}/config", author.Action ?? "update");
        return new AuditRow(change, author.ActorId, author.ActorName, author.RequestId, action, tenant, path,
            beforeDoc.Count == 0 ? null : beforeDoc.ToJsonString(), afterDoc.Count == 0 ? null : afterDoc.ToJsonString());
    }

    private static string Derived(JsonNode? before, JsonNode? after) =>
        before is null ? "create" : after is null ? "delete" : "update";

    private static (string Resource, JsonNode? Before, JsonNode? After) Single(ResourceKey key, JsonNode? before, JsonNode? after)
    {
        switch (key.Kind)
        {
            case ResourceKind.Tenant:
                return ($"/v1/tenants/{key.Tenant}", before, after);
            case ResourceKind.Pool:
                return ($"/v1/pools/{key.Id}", before, after);
            case ResourceKind.Route:
                return ($"/v1/tenants/{key.Tenant}/routes/{key.Id}", before, after);
            case ResourceKind.Certificate:
                return ($"/v1/tenants/{key.Tenant}/certificates/{key.Id}", before, after);
            default:
                var path = $"/v1/tenants/{key.Tenant}/clusters/{key.Id}";
                // A backend's write rewrites its cluster: the settings unchanged and one backend changed is that backend's write.
                if (before is not null && after is not null && JsonNode.DeepEquals(before["spec"], after["spec"])
                    && ChangedBackends(before, after) is [var backend])
                    return ($"{path}/backends/{backend}", before["backends"]?[backend]?.DeepClone(), after["backends"]?[backend]?.DeepClone());
                return (path, Cluster(before), Cluster(after));
        }
    }

    private static List<string> ChangedBackends(JsonNode before, JsonNode after)
    {
        var b = before["backends"] as JsonObject ?? [];
        var a = after["backends"] as JsonObject ?? [];
        return b.Select(p => p.Key).Union(a.Select(p => p.Key))
            .Where(k => !JsonNode.DeepEquals(b[k], a[k]))
            .ToList();
    }

    /// <summary>A cluster as a configuration document has it: its settings and its backends.</summary>
    private static JsonNode? Cluster(JsonNode? definition)
    {
        if (definition is null)
            return null;
        var cluster = definition["spec"]?.DeepClone() as JsonObject ?? [];
        cluster["backends"] = definition["backends"]?.DeepClone() ?? new JsonObject();
        return cluster;
    }

    private static void Place(JsonObject document, ResourceKey key, JsonNode? value)
    {
        if (value is null)
            return;
        var (section, node) = key.Kind switch
        {
            ResourceKind.Tenant => ("tenant", null),
            ResourceKind.Cluster => ("clusters", Cluster(value)),
            ResourceKind.Route => ("routes", value),
            ResourceKind.Certificate => ("certificates", value),
            _ => ("pools", value),
        };
        if (section == "tenant")
        {
            document["tenant"] = value;
            return;
        }
        if (document[section] is not JsonObject map)
            document[section] = map = [];
        map[key.Id] = node;
    }

    private static JsonNode? Parse(string? json)
    {
        if (json is null)
            return null;
        var node = JsonNode.Parse(json);
        Strip(node);
        return node;
    }

    /// <summary>Removes every secret (a certificate's private key, a token) wherever it is in the JSON.</summary>
    public static void Strip(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var name in obj.Select(p => p.Key).Where(SecretFields.Contains).ToList())
                    obj.Remove(name);
                foreach (var (_, child) in obj)
                    Strip(child);
                break;
            case JsonArray array:
                foreach (var child in array)
                    Strip(child);
                break;
        }
    }
}
