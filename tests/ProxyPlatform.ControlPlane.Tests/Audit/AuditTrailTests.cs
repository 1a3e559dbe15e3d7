using System.Text.Json.Nodes;
using ProxyPlatform.ControlPlane.Audit;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Tests.Audit;

/// <summary>How a pool's commit turns its changes into audit records (no database: the rows it would write).</summary>
public sealed class AuditTrailTests
{
    private static readonly ChangeAuthor Key = new("k1", "ops", "req-1", null);

    private static ConfigEntry Entry(ResourceKey key, string? json) => new(key, 0, json);

    [Fact]
    public void A_change_without_an_author_is_not_recorded_and_one_with_an_author_is_recorded_once()
    {
        var route = ResourceKey.OfRoute("t", "r");
        var rows = AuditTrail.Of(
        [
            (null, [Entry(route, """{"cluster":"a"}""")]),
            (Key, [Entry(route, """{"cluster":"b"}""")]),
        ], _ => null);
        var row = Assert.Single(rows);
        Assert.Equal(2, row.Change);
        // The earlier change of the same commit is the "before".
        Assert.Equal("update", row.Action);
        Assert.Equal("""{"cluster":"a"}""", row.Before);
        Assert.Equal("/v1/tenants/t/routes/r", row.Resource);
        Assert.Equal(("k1", "ops", "req-1", "t"), (row.ActorId, row.ActorName, row.RequestId, row.Tenant));
    }

    [Fact]
    public void A_backend_write_is_the_backends_record_and_a_verdict_beside_a_deletion_is_left_out()
    {
        var cluster = ResourceKey.OfCluster("t", "c");
        const string before = """{"spec":{"loadBalancing":"Random"},"backends":{"a":{"address":"http://x"},"b":{"address":"http://y"}}}""";
        const string after = """{"spec":{"loadBalancing":"Random"},"backends":{"a":{"address":"http://z"},"b":{"address":"http://y"}}}""";
        var row = Assert.Single(AuditTrail.Of([(Key, [Entry(cluster, after)])], _ => before));
        Assert.Equal("/v1/tenants/t/clusters/c/backends/a", row.Resource);
        Assert.Equal("update", row.Action);
        Assert.Equal("http://x", JsonNode.Parse(row.Before!)!["address"]!.GetValue<string>());

        var deleted = Assert.Single(AuditTrail.Of([(Key, [Entry(cluster, null), Entry(ResourceKey.HealthOf("t", "c"), null)])], _ => before));
        Assert.Equal(("/v1/tenants/t/clusters/c", "delete"), (deleted.Resource, deleted.Action));
        Assert.Equal("http://x", JsonNode.Parse(deleted.Before!)!["backends"]!["a"]!["address"]!.GetValue<string>());
        Assert.Null(deleted.After);
    }

    [Fact]
    public void A_change_of_several_resources_is_one_record_of_partial_documents_without_secrets()
    {
        var author = Key with { Action = AuditTrail.ConfigApply };
        var rows = AuditTrail.Of([(author,
        [
            Entry(ResourceKey.OfRoute("t", "gone"), null),
            Entry(ResourceKey.OfRoute("t", "new"), """{"cluster":"c"}"""),
            Entry(ResourceKey.OfCluster("t", "c"), """{"spec":{},"backends":{"a":{"address":"http://x"}}}"""),
            Entry(ResourceKey.OfCertificate("t", "site"), """{"names":["t.test"],"privateKey":"-----BEGIN PRIVATE KEY-----"}"""),
        ])], key => key.Id == "gone" ? """{"cluster":"old"}""" : null);
        var row = Assert.Single(rows);
        Assert.Equal(("/v1/tenants/t/config", "config.apply"), (row.Resource, row.Action));
        var before = JsonNode.Parse(row.Before!)!;
        var after = JsonNode.Parse(row.After!)!;
        Assert.Equal("old", before["routes"]!["gone"]!["cluster"]!.GetValue<string>());
        Assert.Null(before["clusters"]);
        Assert.Null(after["routes"]!["gone"]);
        Assert.Equal("c", after["routes"]!["new"]!["cluster"]!.GetValue<string>());
        Assert.Equal("http://x", after["clusters"]!["c"]!["backends"]!["a"]!["address"]!.GetValue<string>());
        Assert.DoesNotContain("PRIVATE KEY", row.After!, StringComparison.Ordinal);
        Assert.DoesNotContain("privateKey", row.After!, StringComparison.Ordinal);
    }
}
