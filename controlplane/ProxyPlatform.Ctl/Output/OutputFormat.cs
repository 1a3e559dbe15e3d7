using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using ProxyPlatform.Ctl.Documents;

namespace ProxyPlatform.Ctl.Output;

/// <summary><c>-o table|json|yaml</c>: tables for people, JSON or YAML of the API's own answer for scripts.</summary>
public enum OutputFormat
{
    Table,
    Json,
    Yaml,
}

public static class Outputs
{
    private static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        // Addresses and paths are read by people too: "&" and "+" stay as they are.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static Option<string> Option()
    {
        var option = new Option<string>("--output", "-o")
        {
            Description = "Output format: table (for people), json or yaml (for scripts).",
            HelpName = "table|json|yaml",
            DefaultValueFactory = _ => "table",
        };
        option.AcceptOnlyFromAmong("table", "json", "yaml");
        return option;
    }

    public static string Json(JsonNode? node) => node?.ToJsonString(Indented) ?? "null";

    /// <summary>Writes <paramref name="node"/> as JSON or YAML; false for <see cref="OutputFormat.Table"/>, which is the command's own.</summary>
    public static bool TryWriteData(TextWriter output, string? format, JsonNode? node)
    {
        switch (Parse(format))
        {
            case OutputFormat.Json:
                output.WriteLine(Json(node));
                return true;
            case OutputFormat.Yaml:
                output.Write(YamlJson.Write(node));
                return true;
            default:
                return false;
        }
    }

    public static OutputFormat Parse(string? format) => format switch
    {
        "json" => OutputFormat.Json,
        "yaml" => OutputFormat.Yaml,
        _ => OutputFormat.Table,
    };

    /// <summary>A value as one table cell: strings bare, lists comma-separated, objects as compact JSON, null as "-".</summary>
    public static string Cell(JsonNode? node) => node switch
    {
        null => "-",
        JsonArray array => array.Count == 0 ? "-" : string.Join(",", array.Select(Cell)),
        JsonObject obj => obj.Count == 0 ? "-" : obj.ToJsonString(),
        JsonValue value when value.TryGetValue<string>(out var text) => text.Length == 0 ? "-" : text,
        _ => node.ToJsonString(),
    };

    /// <summary>The node at a dotted path (<c>match.pathPrefix</c>), or null.</summary>
    public static JsonNode? At(JsonNode? node, string path)
    {
        foreach (var part in path.Split('.'))
            node = node is JsonObject obj ? obj[part] : null;
        return node;
    }
}
