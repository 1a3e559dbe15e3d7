using System.Text.Json;
using System.Text.Json.Nodes;

namespace ProxyPlatform.Ctl.Documents;

/// <summary>
/// A file given with <c>-f</c>: JSON when its name ends in <c>.json</c> (or, read from standard input with
/// <c>-f -</c>, when it starts with <c>{</c>), YAML otherwise. Anything unreadable is a usage error.
/// </summary>
public static class DocumentFile
{
    public static JsonObject Read(string path, CtlConsole console)
    {
        string text;
        string source = path == "-" ? "standard input" : path;
        try
        {
            text = path == "-" ? console.In.ReadToEnd() : File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read {source}: {ex.Message}");
        }
        var json = path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
            || (path == "-" && text.TrimStart().StartsWith('{'));
        JsonNode? node;
        if (json)
        {
            try
            {
                node = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            }
            catch (JsonException ex)
            {
                throw new UsageException($"{source}: not valid JSON (line {ex.LineNumber + 1}, position {ex.BytePositionInLine + 1}): {ex.Message}");
            }
        }
        else
        {
            node = YamlJson.Parse(text, source);
        }
        return node as JsonObject ?? throw new UsageException($"{source}: expected a configuration document (a mapping with clusters and routes), found {Describe(node)}.");
    }

    private static string Describe(JsonNode? node) => node switch
    {
        null => "nothing",
        JsonArray => "a list",
        _ => "a single value",
    };
}
