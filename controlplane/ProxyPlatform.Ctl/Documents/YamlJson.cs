using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace ProxyPlatform.Ctl.Documents;

/// <summary>
/// YAML is ppctl's concern alone (the server speaks JSON): a YAML document is read into the JSON tree it
/// stands for, and a JSON tree written as YAML that reads back the same. Plain scalars are resolved by
/// YAML 1.2's core schema (<c>true</c>, <c>42</c>, <c>1.5</c>, <c>null</c>), quoted ones are strings; on
/// the way out, a string that would read back as something else is quoted.
/// </summary>
public static partial class YamlJson
{
    public static JsonNode? Parse(string text, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            throw new UsageException($"{source}: not valid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {ex.InnerException?.Message ?? ex.Message}");
        }
        return stream.Documents.Count switch
        {
            0 => null,
            1 => ToJson(stream.Documents[0].RootNode, source),
            _ => throw new UsageException($"{source}: holds {stream.Documents.Count} YAML documents; give one tenant's configuration per file."),
        };
    }

    public static string Write(JsonNode? node)
    {
        var document = new YamlDocument(ToYaml(node));
        var writer = new StringWriter(CultureInfo.InvariantCulture);
        new YamlStream(document).Save(writer, assignAnchors: false);
        // YamlStream ends a document with "...": a single document needs no end marker.
        var text = writer.ToString();
        return text.EndsWith("...\n", StringComparison.Ordinal) || text.EndsWith("...\r\n", StringComparison.Ordinal)
            ? text[..text.LastIndexOf("...", StringComparison.Ordinal)]
            : text;
    }

    private static JsonNode? ToJson(YamlNode node, string source) => node switch
    {
        YamlMappingNode mapping => ToJson(mapping, source),
        YamlSequenceNode sequence => new JsonArray(sequence.Children.Select(c => ToJson(c, source)).ToArray()),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new UsageException($"{source}: line {node.Start.Line}: this YAML node has no JSON equivalent."),
    };

    private static JsonObject ToJson(YamlMappingNode mapping, string source)
    {
        var result = new JsonObject();
        foreach (var (key, value) in mapping.Children)
        {
            if (key is not YamlScalarNode { Value: { } name })
                throw new UsageException($"{source}: line {key.Start.Line}: a key must be a plain name.");
            if (result.ContainsKey(name))
                throw new UsageException($"{source}: line {key.Start.Line}: '{name}' appears twice in the same mapping.");
            result[name] = ToJson(value, source);
        }
        return result;
    }

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (scalar.Style is not ScalarStyle.Plain and not ScalarStyle.Any)
            return JsonValue.Create(text);
        return Resolve(text, out var value) ? value : JsonValue.Create(text);
    }

    /// <summary>What a plain scalar stands for when it is not a string (core schema); false: a string.</summary>
    private static bool Resolve(string text, out JsonNode? value)
    {
        value = null;
        if (text is "" or "~" or "null" or "Null" or "NULL")
            return true;
        if (text is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            value = JsonValue.Create(text[0] is 't' or 'T');
            return true;
        }
        if (Integer().IsMatch(text))
        {
            value = long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var whole)
                ? JsonValue.Create(whole)
                : JsonNode.Parse(text.TrimStart('+'));
            return true;
        }
        if (text.StartsWith("0x", StringComparison.Ordinal) && long.TryParse(text[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
        {
            value = JsonValue.Create(hex);
            return true;
        }
        if (text.StartsWith("0o", StringComparison.Ordinal) && text.Length > 2 && text[2..].All(c => c is >= '0' and <= '7'))
        {
            value = JsonValue.Create(Convert.ToInt64(text[2..], 8));
            return true;
        }
        if (Float().IsMatch(text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var real))
        {
            value = JsonValue.Create(real);
            return true;
        }
        if (text.ToLowerInvariant() is ".inf" or "+.inf" or "-.inf" or ".nan")
            throw new UsageException($"'{text}' (infinity or not-a-number) has no JSON equivalent.");
        return false;
    }

    private static YamlNode ToYaml(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return new YamlScalarNode("null") { Style = ScalarStyle.Plain };
            case JsonObject obj:
                var mapping = new YamlMappingNode();
                foreach (var (name, value) in obj)
                    mapping.Add(Text(name), ToYaml(value));
                if (obj.Count == 0)
                    mapping.Style = MappingStyle.Flow;
                return mapping;
            case JsonArray array:
                var sequence = new YamlSequenceNode(array.Select(ToYaml));
                if (array.Count == 0)
                    sequence.Style = SequenceStyle.Flow;
                return sequence;
            default:
                return node.GetValueKind() switch
                {
                    JsonValueKind.String => Text(node.GetValue<string>()),
                    JsonValueKind.True => new YamlScalarNode("true") { Style = ScalarStyle.Plain },
                    JsonValueKind.False => new YamlScalarNode("false") { Style = ScalarStyle.Plain },
                    JsonValueKind.Null => new YamlScalarNode("null") { Style = ScalarStyle.Plain },
                    _ => new YamlScalarNode(node.ToJsonString()) { Style = ScalarStyle.Plain },
                };
        }
    }

    /// <summary>A string as a scalar that reads back as that string: plain when it can be, else double-quoted.</summary>
    private static YamlScalarNode Text(string text)
    {
        bool quote;
        try
        {
            quote = Resolve(text, out _) || text.Trim() != text || text.Length == 0;
        }
        catch (UsageException)
        {
            quote = true;
        }
        // The emitter falls back to quotes on its own where a plain scalar cannot be written (": ", "#", a leading "-").
        return new YamlScalarNode(text) { Style = quote ? ScalarStyle.DoubleQuoted : ScalarStyle.Plain };
    }

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex Integer();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex Float();
}
