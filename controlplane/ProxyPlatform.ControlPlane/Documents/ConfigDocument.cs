using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Api;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Documents;

/// <summary>
/// A tenant's configuration document (DESIGN.md, "Details: Config documents"):
/// <c>{"tenant", "revision", "clusters": {"c1": {cluster body, "backends": {"b1": {backend body}}}}, "routes": {"r1": {route body}}}</c>.
/// Each body is what the single-resource PUT takes, read and validated by the same code; one mapping from
/// the document to the entries that are committed (<see cref="Read"/>) and one back (<see cref="Render"/>).
/// </summary>
public static class ConfigDocument
{
    /// <summary>The largest document a PUT may carry (the 1 MiB admin limit is for single resources).</summary>
    public const long MaxBytes = 64L * 1024 * 1024;

    /// <summary>The document of the entries (live clusters and routes of one tenant).</summary>
    public static JsonObject Render(string tenant, long revision, IEnumerable<ConfigEntry> entries)
    {
        var (clusters, routes) = Content(entries);
        return new JsonObject { ["tenant"] = tenant, ["revision"] = revision, ["clusters"] = clusters, ["routes"] = routes };
    }

    /// <summary>The ETag of the entries' document: a hash of its content (clusters and routes, not its revision).</summary>
    public static string ETagOf(IEnumerable<ConfigEntry> entries)
    {
        var (clusters, routes) = Content(entries);
        var content = Sorted(new JsonObject { ["clusters"] = clusters, ["routes"] = routes })!.ToJsonString();
        return $"\"{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content)))[..32]}\"";
    }

    /// <summary>Whether <paramref name="ifMatch"/> (<c>*</c> or a list of ETags) holds for the document whose ETag is <paramref name="current"/>.</summary>
    public static bool Matches(string? ifMatch, string current) =>
        string.IsNullOrWhiteSpace(ifMatch) || ifMatch.Trim() == "*" ||
        ifMatch.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Any(tag => (tag.StartsWith("W/", StringComparison.Ordinal) ? tag[2..] : tag) == current);

    /// <summary>An entry's content in a form where equal content is equal text (key order as committed does not matter).</summary>
    public static string Canonical(ConfigEntry entry) => entry.Json is null ? "" : Sorted(Body(entry))!.ToJsonString();

    /// <summary>A cluster's (settings and backends) or a route's body as the document shows it.</summary>
    public static JsonObject Body(ConfigEntry entry)
    {
        if (entry.Key.Kind == ResourceKind.Route)
            return JsonSerializer.SerializeToNode(ConfigJson.Read<RouteSpec>(entry.Json!), ConfigJson.Options)!.AsObject();
        var definition = ConfigJson.Read<ClusterDefinition>(entry.Json!);
        var body = JsonSerializer.SerializeToNode(definition.Spec, ConfigJson.Options)!.AsObject();
        var backends = new JsonObject();
        foreach (var (id, backend) in definition.Backends.OrderBy(b => b.Key, StringComparer.Ordinal))
            backends[id] = JsonSerializer.SerializeToNode(backend, ConfigJson.Options);
        body["backends"] = backends;
        return body;
    }

    private static (JsonObject Clusters, JsonObject Routes) Content(IEnumerable<ConfigEntry> entries)
    {
        var clusters = new JsonObject();
        var routes = new JsonObject();
        foreach (var entry in entries.Where(e => !e.IsRemoval).OrderBy(e => e.Key.Id, StringComparer.Ordinal))
        {
            if (entry.Key.Kind == ResourceKind.Cluster)
                clusters[entry.Key.Id] = Body(entry);
            else if (entry.Key.Kind == ResourceKind.Route)
                routes[entry.Key.Id] = Body(entry);
        }
        return (clusters, routes);
    }

    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray a => new JsonArray([.. a.Select(Sorted)]),
        _ => node?.DeepClone(),
    };

    /// <summary>
    /// The tenant's clusters and routes that the document describes, each validated as its own PUT validates
    /// it and written as that PUT commits it. Refuses a malformed or invalid document, naming the field by
    /// its path in the document (<c>routes.r1.match.pathPrefix</c>).
    /// </summary>
    public static ConfigEntry[] Read(string tenant, JsonNode? document)
    {
        if (document is not JsonObject root)
            throw AdminException.Invalid("", "A configuration document is a JSON object: {\"clusters\": {...}, \"routes\": {...}}.");
        var errors = new List<FieldError>();
        var entries = new List<ConfigEntry>();
        var clusterIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, value) in root)
        {
            switch (name)
            {
                case "tenant":
                    if (value is not JsonValue v || !v.TryGetValue<string>(out var named) || named != tenant)
                        errors.Add(new FieldError("tenant", $"the document is tenant '{tenant}''s (the tenant in the path); leave the field out or give that."));
                    break;
                case "revision":
                    // The revision a document was read at is information, not input.
                    break;
                case "clusters":
                case "routes":
                    if (value is not null and not JsonObject)
                        errors.Add(new FieldError(name, "must be an object of resources by ID."));
                    break;
                default:
                    errors.Add(new FieldError(name, "is not a field of a configuration document (tenant, revision, clusters, routes)."));
                    break;
            }
        }
        Refuse(errors);

        foreach (var (id, node) in root["clusters"] as JsonObject ?? [])
        {
            var at = $"clusters.{id}";
            if (!ConfigValidator.IsValidId(id))
            {
                errors.Add(new FieldError(at, $"'{id}' is not a cluster ID ([a-z0-9][a-z0-9-]{{0,62}})."));
                continue;
            }
            clusterIds.Add(id);
            if (node is not JsonObject cluster)
            {
                errors.Add(new FieldError(at, "a cluster is an object: its settings and \"backends\"."));
                continue;
            }
            var settings = cluster.DeepClone().AsObject();
            var backendNodes = settings["backends"];
            settings.Remove("backends");
            var spec = Deserialize<ClusterSpec>(settings, at, errors);
            if (spec is null)
                continue;
            errors.AddRange(Prefixed(at, ConfigValidator.Validate(spec)));
            var backends = new SortedDictionary<string, BackendSpec>(StringComparer.Ordinal);
            if (backendNodes is not null and not JsonObject)
                errors.Add(new FieldError($"{at}.backends", "must be an object of backends by ID."));
            foreach (var (backendId, backendNode) in backendNodes as JsonObject ?? [])
            {
                var backendAt = $"{at}.backends.{backendId}";
                if (!ConfigValidator.IsValidId(backendId))
                {
                    errors.Add(new FieldError(backendAt, $"'{backendId}' is not a backend ID ([a-z0-9][a-z0-9-]{{0,62}})."));
                    continue;
                }
                if (Deserialize<BackendSpec>(backendNode, backendAt, errors) is not { } backend)
                    continue;
                errors.AddRange(Prefixed(backendAt, ConfigValidator.Validate(backend)));
                backends[backendId] = backend;
            }
            if (backends.Count > Backends.ClusterGrain.MaxBackends)
                errors.Add(new FieldError($"{at}.backends", $"a cluster has at most {Backends.ClusterGrain.MaxBackends} backends, not {backends.Count}."));
            entries.Add(new ConfigEntry(ResourceKey.OfCluster(tenant, id), 0, ConfigJson.Write(new ClusterDefinition { Spec = spec, Backends = backends })));
        }

        foreach (var (id, node) in root["routes"] as JsonObject ?? [])
        {
            var at = $"routes.{id}";
            if (!ConfigValidator.IsValidId(id))
            {
                errors.Add(new FieldError(at, $"'{id}' is not a route ID ([a-z0-9][a-z0-9-]{{0,62}})."));
                continue;
            }
            if (Deserialize<RouteSpec>(node, at, errors) is not { } route)
                continue;
            route = AdminOperations.Normalized(route);
            var invalid = ConfigValidator.Validate(route);
            errors.AddRange(Prefixed(at, invalid));
            if (invalid.Count == 0 && !clusterIds.Contains(route.Cluster))
                errors.Add(new FieldError($"{at}.cluster", $"the document has no cluster '{route.Cluster}'; a route sends to one of the document's clusters."));
            entries.Add(new ConfigEntry(ResourceKey.OfRoute(tenant, id), 0, ConfigJson.Write(route)));
        }
        Refuse(errors);
        return [.. entries];
    }

    private static T? Deserialize<T>(JsonNode? node, string at, List<FieldError> errors) where T : class
    {
        if (node is not JsonObject)
        {
            errors.Add(new FieldError(at, "must be an object (the body its own PUT takes)."));
            return null;
        }
        try
        {
            return node.Deserialize<T>(ConfigJson.Options) ?? throw new JsonException("null");
        }
        catch (JsonException ex)
        {
            var field = Problems.FieldOf(ex);
            errors.Add(new FieldError(field.Length == 0 ? at : $"{at}.{field}",
                ex.Message.Contains("could not be mapped", StringComparison.Ordinal) ? "is not a field of this resource." : "the value is malformed or of the wrong type."));
            return null;
        }
    }

    private static IEnumerable<FieldError> Prefixed(string at, IReadOnlyList<FieldError> errors) =>
        errors.Select(e => new FieldError(e.Field.Length == 0 ? at : $"{at}.{e.Field}", e.Message));

    private static void Refuse(List<FieldError> errors)
    {
        if (errors.Count > 0)
            throw AdminException.Invalid(errors.Take(100).ToList());
    }

    /// <summary>
    /// The answer to an apply or rollback: <c>{revision, dryRun, unchanged, diff: {added, changed, removed}}</c>, a
    /// cluster's backends listed as resources of their own (<c>kind: backend</c>, <c>id: c1/b1</c>), a change as
    /// the fields that differ with their values before and after.
    /// </summary>
    public static JsonObject Answer(ConfigApplyOutcome outcome, bool dryRun)
    {
        var added = new JsonArray();
        var changed = new JsonArray();
        var removed = new JsonArray();
        for (var i = 0; i < outcome.Before.Length; i++)
        {
            var before = outcome.Before[i];
            var after = outcome.After[i];
            var key = after.Key;
            var kind = key.Kind == ResourceKind.Cluster ? "cluster" : "route";
            var was = before.IsRemoval ? null : Body(before);
            var now = after.IsRemoval ? null : Body(after);
            if (key.Kind == ResourceKind.Cluster)
            {
                var backendsBefore = was?["backends"]?.AsObject().DeepClone().AsObject() ?? [];
                var backendsAfter = now?["backends"]?.AsObject().DeepClone().AsObject() ?? [];
                was?.Remove("backends");
                now?.Remove("backends");
                Classify(kind, key.Id, was, now);
                foreach (var id in backendsBefore.Select(b => b.Key).Union(backendsAfter.Select(b => b.Key)).Order(StringComparer.Ordinal))
                    Classify("backend", $"{key.Id}/{id}", backendsBefore[id]?.AsObject(), backendsAfter[id]?.AsObject());
            }
            else
            {
                Classify(kind, key.Id, was, now);
            }
        }
        return new JsonObject
        {
            ["revision"] = outcome.Revision,
            ["dryRun"] = dryRun,
            ["unchanged"] = outcome.Unchanged,
            ["diff"] = new JsonObject { ["added"] = added, ["changed"] = changed, ["removed"] = removed },
        };

        void Classify(string kind, string id, JsonObject? was, JsonObject? now)
        {
            if (was is null && now is not null)
                added.Add(new JsonObject { ["kind"] = kind, ["id"] = id, ["after"] = now.DeepClone() });
            else if (was is not null && now is null)
                removed.Add(new JsonObject { ["kind"] = kind, ["id"] = id, ["before"] = was.DeepClone() });
            else if (was is not null && now is not null)
            {
                var fields = new JsonArray();
                Fields("", was, now, fields);
                if (fields.Count > 0)
                    changed.Add(new JsonObject { ["kind"] = kind, ["id"] = id, ["fields"] = fields });
            }
        }
    }

    // Objects are compared field by field; any other value (arrays included) as a whole.
    private static void Fields(string path, JsonNode? was, JsonNode? now, JsonArray into)
    {
        if (was is JsonObject a && now is JsonObject b)
        {
            foreach (var name in a.Select(p => p.Key).Union(b.Select(p => p.Key)).ToList())
                Fields(path.Length == 0 ? name : $"{path}.{name}", a[name], b[name], into);
            return;
        }
        if (!JsonNode.DeepEquals(was, now))
            into.Add(new JsonObject { ["path"] = path, ["before"] = was?.DeepClone(), ["after"] = now?.DeepClone() });
    }
}
