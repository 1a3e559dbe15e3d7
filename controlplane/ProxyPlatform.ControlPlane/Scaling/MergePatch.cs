using System.Text.Json;
using System.Text.Json.Nodes;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane.Scaling;

/// <summary>JSON merge patch (RFC 7396) of a resource body: the fields the patch names change, <c>null</c> removes one.</summary>
public static class MergePatch
{
    public const string ContentType = "application/merge-patch+json";
    /// <summary>Deeper than any body of the model: a patch nested further is refused before it is read.</summary>
    private const int MaxDepth = 16;

    /// <summary>The body after the patch, read as strictly as a PUT's body; Invalid naming the field when it is not one.</summary>
    public static T Apply<T>(T current, string patch) where T : class
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(patch, documentOptions: new JsonDocumentOptions { MaxDepth = MaxDepth });
        }
        catch (JsonException ex)
        {
            throw AdminException.Invalid("", $"The merge patch is not valid JSON (line {ex.LineNumber + 1}, position {ex.BytePositionInLine + 1}).");
        }
        if (node is not JsonObject)
            throw AdminException.Invalid("", "A merge patch of a resource is a JSON object naming the fields to change, e.g. {\"replicas\": 3}.");
        var merged = Merge(JsonSerializer.SerializeToNode(current, ConfigJson.Options), node);
        try
        {
            return merged.Deserialize<T>(ConfigJson.Options) ?? throw AdminException.Invalid("", "The patched body is empty.");
        }
        catch (JsonException ex)
        {
            var field = (ex.Path ?? "$").TrimStart('$').TrimStart('.');
            throw ex.Message.Contains("could not be mapped", StringComparison.Ordinal)
                ? AdminException.Invalid(field, "is not a field of this resource.")
                : AdminException.Invalid(field, "the value is malformed or of the wrong type.");
        }
    }

    private static JsonNode? Merge(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject fields)
            return patch?.DeepClone();
        var result = target is JsonObject existing ? existing : new JsonObject();
        foreach (var (name, value) in fields)
        {
            if (value is null)
            {
                result.Remove(name);
                continue;
            }
            result.Remove(name, out var before);
            result[name] = Merge(before, value);
        }
        return result;
    }
}
