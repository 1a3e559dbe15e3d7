using System.Text.Json.Nodes;
using ProxyPlatform.Ctl;
using ProxyPlatform.Ctl.Documents;

namespace ProxyPlatform.EndToEnd.Tests.Ctl;

/// <summary>ppctl's YAML: what <c>-o yaml</c> writes reads back as the same JSON, and a file means what YAML 1.2 says it means.</summary>
public sealed class YamlJsonTests
{
    [Fact]
    public void Strings_that_look_like_other_things_survive_a_round_trip_through_yaml()
    {
        var tricky = new[] { "true", "False", "null", "~", "", " padded ", "123", "-1.5e3", "0x1F", "0o17", ".inf", "a: b", "#not a comment",
            "- item", "[x]", "{y}", "*alias", "&anchor", "!tag", "%x", "@x", "`x", "'quoted'", "\"double\"", "line\nbreak", "tab\there", "ünïcödé", "yes", "no" };
        var original = new JsonObject
        {
            ["strings"] = new JsonArray([.. tricky.Select(t => (JsonNode?)JsonValue.Create(t))]),
            ["numbers"] = new JsonArray(0, -7, 9007199254740993L, 1.25, 1e-7),
            ["flags"] = new JsonArray(true, false, null),
            ["empty"] = new JsonObject { ["list"] = new JsonArray(), ["map"] = new JsonObject() },
            ["nested"] = new JsonObject { ["match"] = new JsonObject { ["headers"] = new JsonObject { ["x-canary"] = "1" } } },
        };
        var yaml = YamlJson.Write(original);
        var back = YamlJson.Parse(yaml, "test");
        Assert.True(JsonNode.DeepEquals(original, back), $"{yaml}\n---\n{back?.ToJsonString()}");
    }

    [Fact]
    public void Plain_scalars_are_read_by_the_core_schema_and_quoted_ones_are_strings()
    {
        var node = YamlJson.Parse("""
            a: 42
            b: "42"
            c: true
            d: 'true'
            e: ~
            f: 1.5
            g: /api
            h: yes
            i: [GET, POST]
            """, "test")!;
        Assert.Equal(42, node["a"]!.GetValue<long>());
        Assert.Equal("42", node["b"]!.GetValue<string>());
        Assert.True(node["c"]!.GetValue<bool>());
        Assert.Equal("true", node["d"]!.GetValue<string>());
        Assert.Null(node["e"]);
        Assert.True(node.AsObject().ContainsKey("e"));
        Assert.Equal(1.5, node["f"]!.GetValue<double>());
        Assert.Equal("/api", node["g"]!.GetValue<string>());
        // YAML 1.2: "yes" is a string, not YAML 1.1's boolean.
        Assert.Equal("yes", node["h"]!.GetValue<string>());
        Assert.Equal(["GET", "POST"], node["i"]!.AsArray().Select(v => v!.GetValue<string>()));
    }

    [Theory]
    [InlineData("a: 1\na: 2\n", "line 2")]
    [InlineData("a: [1\n", "not valid YAML")]
    [InlineData("a: 1\n---\nb: 2\n", "2 YAML documents")]
    [InlineData("a: .inf\n", "no JSON equivalent")]
    public void A_file_that_is_not_one_json_document_is_refused_saying_why(string yaml, string says)
    {
        var error = Assert.Throws<UsageException>(() => YamlJson.Parse(yaml, "tenant.yaml"));
        Assert.Contains(says, error.Message, StringComparison.Ordinal);
    }
}
