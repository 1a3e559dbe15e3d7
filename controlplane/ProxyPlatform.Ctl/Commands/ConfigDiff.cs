using System.Text.Json.Nodes;

namespace ProxyPlatform.Ctl.Commands;

/// <summary>
/// The answer of <c>PUT /v1/tenants/{t}/config</c> and <c>POST .../rollback</c>:
/// <c>{revision, dryRun, unchanged, diff: {added, changed, removed}}</c>, printed for people.
/// </summary>
public static class ConfigDiff
{
    public static bool HasChanges(JsonNode? answer)
    {
        if (answer?["unchanged"] is JsonValue unchanged && unchanged.TryGetValue<bool>(out var same))
            return !same;
        return Count(answer, "added") + Count(answer, "changed") + Count(answer, "removed") > 0;
    }

    /// <summary>
    /// <c>+ route r2</c>, <c>~ route r1</c> with each changed field and its before and after, <c>- backend web/b1</c>,
    /// then the counts.
    /// </summary>
    public static void Write(TextWriter output, JsonNode? answer)
    {
        var diff = answer?["diff"];
        foreach (var entry in Entries(diff, "added"))
            output.WriteLine($"+ {entry?["kind"]} {entry?["id"]}");
        foreach (var entry in Entries(diff, "changed"))
        {
            output.WriteLine($"~ {entry?["kind"]} {entry?["id"]}");
            foreach (var field in entry?["fields"] as JsonArray ?? [])
                output.WriteLine($"    {field?["path"]}: {Value(field?["before"])} -> {Value(field?["after"])}");
        }
        foreach (var entry in Entries(diff, "removed"))
            output.WriteLine($"- {entry?["kind"]} {entry?["id"]}");
        output.WriteLine($"{Count(answer, "added")} added, {Count(answer, "changed")} changed, {Count(answer, "removed")} removed");
    }

    private static IEnumerable<JsonNode?> Entries(JsonNode? diff, string name) => diff?[name] as JsonArray ?? [];

    private static int Count(JsonNode? answer, string name) => (answer?["diff"]?[name] as JsonArray)?.Count ?? 0;

    private static string Value(JsonNode? value) => value is null ? "(none)" : value.ToJsonString();
}
