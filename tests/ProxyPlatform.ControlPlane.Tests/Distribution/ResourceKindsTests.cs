using ProxyPlatform.Configuration;
using ProxyPlatform.Resources;
using Wire = ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.ControlPlane.Tests.Distribution;

/// <summary>The table of resource kinds: every kind has one entry, and the stream's keys map to and from it.</summary>
public sealed class ResourceKindsTests
{
    [Fact]
    public void Every_kind_has_one_entry_and_every_wire_kind_but_unspecified_is_a_kind()
    {
        Assert.Equal(Enum.GetValues<ResourceKind>(), ResourceKinds.All.Select(k => k.Kind));
        Assert.Equal(ResourceKinds.All.Count(), ResourceKinds.All.Select(k => k.Name).Distinct().Count());
        foreach (var wire in Enum.GetValues<Wire.ResourceType>().Where(k => k != Wire.ResourceType.Unspecified))
            Assert.True(ResourceKinds.IsKnown((ResourceKind)(int)wire), $"{wire} has no entry");
    }

    [Fact]
    public void A_key_makes_the_round_trip_through_the_wire_and_bad_wire_keys_say_why()
    {
        var key = ResourceKey.HealthOf("acme", "web");
        Assert.True(ResourceKinds.TryFromWire(ResourceKinds.ToWire(key), out var back, out _));
        Assert.Equal(key, back);
        Assert.Equal("health of cluster acme/web", key.ToString());

        Assert.False(ResourceKinds.TryFromWire(new Wire.ResourceRef { Kind = Wire.ResourceType.Unspecified, Tenant = "a", Id = "b" }, out _, out var unknown));
        Assert.Contains("unknown resource kind", unknown, StringComparison.Ordinal);
        Assert.False(ResourceKinds.TryFromWire(new Wire.ResourceRef { Kind = Wire.ResourceType.Tenant, Tenant = "a", Id = "b" }, out _, out var tenant));
        Assert.Contains("tenant's ID must be its tenant", tenant, StringComparison.Ordinal);
        Assert.False(ResourceKinds.TryFromWire(new Wire.ResourceRef { Kind = Wire.ResourceType.Route, Tenant = "A/..", Id = "b" }, out _, out _));
    }

    [Fact]
    public void A_routes_reference_is_its_top_level_cluster_wherever_it_stands_in_the_JSON()
    {
        var route = new RouteSpec { Match = new RouteMatchSpec { Headers = new Dictionary<string, string> { ["cluster"] = "decoy" } }, Cluster = "web" };
        var reference = ResourceKinds.Of(ResourceKind.Route).Reference(ResourceKey.OfRoute("t", "r"), ConfigJson.Write(route));

        Assert.Equal(new ResourceReference(ResourceKey.OfCluster("t", "web"), "cluster"), reference);
        Assert.Equal(ResourceKey.OfCluster("t", "web"),
            ResourceKinds.Of(ResourceKind.Route).Reference(ResourceKey.OfRoute("t", "r"), """{"cluster":"web","match":{"pathPrefix":"/"}}""")!.Value.Target);
    }

    [Fact]
    public void Each_kinds_spec_type_reads_what_the_platform_writes()
    {
        foreach (var kind in ResourceKinds.All)
        {
            var spec = Activator.CreateInstance(kind.SpecType)!;
            var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(spec, kind.SpecType, ConfigJson.Options);
            Assert.IsType(kind.SpecType, kind.Decode(json));
        }
    }
}
