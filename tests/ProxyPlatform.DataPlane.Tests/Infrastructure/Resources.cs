using System.Text.Json;
using Google.Protobuf;
using ProxyPlatform.Configuration;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Tests.Infrastructure;

/// <summary>Stream resources and updates as the control plane sends them.</summary>
internal static class Resources
{
    public static Resource Tenant(string tenant, TenantSpec spec, long revision = 1) =>
        Json(ResourceType.Tenant, tenant, tenant, JsonSerializer.Serialize(spec, ConfigJson.Options), revision);

    public static Resource Cluster(string tenant, string id, ClusterDefinition spec, long revision = 1) =>
        Json(ResourceType.Cluster, tenant, id, JsonSerializer.Serialize(spec, ConfigJson.Options), revision);

    public static Resource Route(string tenant, string id, RouteSpec spec, long revision = 1) =>
        Json(ResourceType.Route, tenant, id, JsonSerializer.Serialize(spec, ConfigJson.Options), revision);

    /// <summary>The pool's own settings, as the control plane sends the one of the worker's pool (<c>default</c> unless configured).</summary>
    public static Resource Pool(PoolSpec spec, long revision = 1, string pool = "default") =>
        Json(ResourceType.Pool, "", pool, JsonSerializer.Serialize(spec, ConfigJson.Options), revision);

    public static Resource Json(ResourceType kind, string tenant, string id, string json, long revision = 1) => new()
    {
        Key = new ResourceRef { Kind = kind, Tenant = tenant, Id = id },
        Revision = revision,
        SpecJson = ByteString.CopyFromUtf8(json),
    };

    public static ResourceRef Key(ResourceType kind, string tenant, string id) => new() { Kind = kind, Tenant = tenant, Id = id };

    public static ConfigUpdate Snapshot(long revision, params Resource[] upserts)
    {
        var update = new ConfigUpdate { Revision = revision, BaseRevision = 0 };
        update.Upserts.AddRange(upserts);
        return update;
    }

    public static ConfigUpdate Delta(long baseRevision, long revision, IEnumerable<Resource> upserts, IEnumerable<ResourceRef>? removals = null)
    {
        var update = new ConfigUpdate { Revision = revision, BaseRevision = baseRevision };
        update.Upserts.AddRange(upserts);
        update.Removals.AddRange(removals ?? []);
        return update;
    }

    /// <summary>A delta adding route <c>acme/r&lt;revision&gt;</c> on <c>/r&lt;revision&gt;</c> to <see cref="AcmeSnapshot"/>'s cluster.</summary>
    public static ConfigUpdate RouteAdded(long baseRevision, long revision) =>
        Delta(baseRevision, revision, [Route("acme", $"r{revision}", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = $"/r{revision}" }, Cluster = "web" }, revision)]);

    /// <summary>A tenant <c>acme</c> owning <c>acme.test</c>, a cluster <c>web</c> with one backend, and a route <c>api</c> on <c>/api</c>.</summary>
    public static ConfigUpdate AcmeSnapshot(long revision = 1, string backend = "http://127.0.0.1:9") => Snapshot(revision,
        Tenant("acme", new TenantSpec { Hostnames = ["acme.test"] }, revision),
        Cluster("acme", "web", new ClusterDefinition { Backends = new Dictionary<string, BackendSpec> { ["a"] = new() { Address = backend } } }, revision),
        Route("acme", "api", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = "/api" }, Cluster = "web", StripPrefix = true }, revision));
}
