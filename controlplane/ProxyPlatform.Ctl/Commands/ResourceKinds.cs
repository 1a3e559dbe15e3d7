using System.Text.Json.Nodes;
using ProxyPlatform.Ctl.Output;
using static ProxyPlatform.Ctl.Http.ControlPlaneClient;

namespace ProxyPlatform.Ctl.Commands;

/// <summary>Where a kind's resources are: the tenant and cluster given on the command line.</summary>
public sealed record Scope(string? Tenant, string? Cluster, long? Revision = null);

/// <summary>A table column: its header, and the cell of one item.</summary>
public sealed record Column(string Header, Func<JsonNode?, string> Cell)
{
    /// <summary>A column showing the value at a dotted path of the item.</summary>
    public static Column Of(string header, string path) => new(header, item => Outputs.Cell(Outputs.At(item, path)));
}

/// <summary>
/// A kind <c>ppctl get</c> lists: where its list and its items are, what it needs to be found, and its
/// table's columns. A new kind is one entry of <see cref="All"/>.
/// </summary>
public sealed record ResourceKind
{
    public required string Name { get; init; }
    public bool NeedsTenant { get; init; }
    public bool NeedsCluster { get; init; }
    public required Func<Scope, string> ListPath { get; init; }
    /// <summary>
    /// True for a kind that is one document rather than a list (a tenant's configuration): its path is
    /// <see cref="ListPath"/>, and people get it as YAML, the form <c>ppctl apply</c> takes back.
    /// </summary>
    public bool IsDocument { get; init; }
    /// <summary>The path of one item by ID; null when the kind has no such endpoint.</summary>
    public Func<Scope, string, string>? ItemPath { get; init; }
    public required Column[] Columns { get; init; }

    private static string T(Scope s) => Segment(s.Tenant!);
    private static string C(Scope s) => Segment(s.Cluster!);

    public static readonly ResourceKind[] All =
    [
        new()
        {
            Name = "tenants",
            ListPath = _ => "v1/tenants",
            ItemPath = (_, id) => $"v1/tenants/{Segment(id)}",
            Columns = [Column.Of("ID", "id"), Column.Of("DISPLAY NAME", "displayName"), Column.Of("HOSTNAMES", "hostnames"), Column.Of("POOL", "pool"), Column.Of("REVISION", "revision")],
        },
        new()
        {
            Name = "routes",
            NeedsTenant = true,
            ListPath = s => $"v1/tenants/{T(s)}/routes",
            ItemPath = (s, id) => $"v1/tenants/{T(s)}/routes/{Segment(id)}",
            Columns = [Column.Of("ID", "id"), Column.Of("HOSTS", "match.hosts"), Column.Of("PATH PREFIX", "match.pathPrefix"), Column.Of("METHODS", "match.methods"),
                Column.Of("CLUSTER", "cluster"), Column.Of("PRIORITY", "priority"), Column.Of("REVISION", "revision")],
        },
        new()
        {
            Name = "clusters",
            NeedsTenant = true,
            ListPath = s => $"v1/tenants/{T(s)}/clusters",
            ItemPath = (s, id) => $"v1/tenants/{T(s)}/clusters/{Segment(id)}",
            Columns = [Column.Of("ID", "id"), Column.Of("LOAD BALANCING", "loadBalancing"), Column.Of("HEALTH CHECK", "healthCheck.path"), Column.Of("REVISION", "revision")],
        },
        new()
        {
            Name = "backends",
            NeedsTenant = true,
            NeedsCluster = true,
            ListPath = s => $"v1/tenants/{T(s)}/clusters/{C(s)}/backends",
            ItemPath = (s, id) => $"v1/tenants/{T(s)}/clusters/{C(s)}/backends/{Segment(id)}",
            Columns = [Column.Of("ID", "id"), Column.Of("ADDRESS", "address"), Column.Of("WEIGHT", "weight"), Column.Of("ENABLED", "enabled"),
                Column.Of("VERDICT", "health.verdict"), Column.Of("REVISION", "revision")],
        },
        new()
        {
            Name = "config",
            NeedsTenant = true,
            IsDocument = true,
            ListPath = s => WithQuery($"v1/tenants/{T(s)}/config", "revision", s.Revision?.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            Columns = [],
        },
        new()
        {
            Name = "dataplanes",
            ListPath = _ => "v1/dataplanes",
            Columns = [Column.Of("ID", "id"), Column.Of("POOL", "pool"), Column.Of("STATE", "state"), Column.Of("CONNECTED", "connected"),
                Column.Of("APPLIED", "appliedRevision"), Column.Of("LAG", "lag.revisions"), Column.Of("P99 MS", "convergence.p99Ms")],
        },
        new()
        {
            Name = "pools",
            ListPath = _ => "v1/pools",
            ItemPath = (_, id) => $"v1/pools/{Segment(id)}",
            Columns = [Column.Of("ID", "id"), Column.Of("REPLICAS", "replicas"), Column.Of("READY", "readyReplicas"), Column.Of("PROVIDER", "provider"),
                Column.Of("AUTOSCALE", "autoscale"), Column.Of("REVISION", "revision")],
        },
        new()
        {
            Name = "keys",
            ListPath = s => WithQuery("v1/keys", "tenant", s.Tenant),
            ItemPath = (_, id) => $"v1/keys/{Segment(id)}",
            Columns = [Column.Of("ID", "id"), Column.Of("NAME", "name"), Column.Of("ROLE", "role"), Column.Of("TENANT", "tenant"),
                Column.Of("EXPIRES", "expiresAt"), Column.Of("REVOKED", "revokedAt"), Column.Of("LAST USED", "lastUsedAt")],
        },
        new()
        {
            Name = "audit",
            // A tenant's key reads its own tenant's trail; the whole trail is the operator's.
            ListPath = s => s.Tenant is null ? "v1/audit" : $"v1/tenants/{T(s)}/audit",
            Columns = [Column.Of("ID", "id"), Column.Of("TIME", "time"), Column.Of("ACTOR", "actor.name"), Column.Of("ACTION", "action"),
                Column.Of("RESOURCE", "resource"), Column.Of("REVISION", "revision")],
        },
    ];

    /// <summary>The items as this kind's table.</summary>
    public void WriteTable(TextWriter output, IEnumerable<JsonNode?> items)
    {
        var table = new Table([.. Columns.Select(c => c.Header)]);
        foreach (var item in items)
            table.Add([.. Columns.Select(c => c.Cell(item))]);
        table.WriteTo(output);
    }

    public static ResourceKind? Find(string name) =>
        All.FirstOrDefault(k => k.Name == name || k.Name == name + "s" || (k.Name is "audit" or "config" && name == k.Name + "s"));
}
