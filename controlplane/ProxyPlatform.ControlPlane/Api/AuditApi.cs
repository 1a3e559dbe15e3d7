using System.Text.Json.Nodes;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.ControlPlane.Audit;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary><c>GET /v1/audit</c> (operator) and <c>GET /v1/tenants/{tenant}/audit</c> (that tenant's keys).</summary>
public static class AuditApi
{
    public static RouteGroupBuilder MapAuditApi(this RouteGroupBuilder v1)
    {
        v1.MapGet("/audit", async (AuditOperations audit, HttpContext c) =>
            Page(await audit.List(Caller.From(c.User), null, Query(c, "tenant"), Query(c, "actor"), Query(c, "resource"), Query(c, "since"), Query(c, "limit"), Query(c, "after"), c.RequestAborted)))
            .RequireAuthorization(Policies.Operator);
        v1.MapGet("/tenants/{tenant}/audit", async (string tenant, AuditOperations audit, HttpContext c) =>
            Page(await audit.List(Caller.From(c.User), tenant, null, Query(c, "actor"), Query(c, "resource"), Query(c, "since"), Query(c, "limit"), Query(c, "after"), c.RequestAborted)));
        return v1;
    }

    private static string? Query(HttpContext context, string name) =>
        context.Request.Query.TryGetValue(name, out var value) ? value.ToString() : null;

    private static IResult Page(AuditPage page) =>
        Results.Text(new JsonObject
        {
            ["items"] = new JsonArray(page.Items.Select(r => (JsonNode)r.ToJson()).ToArray()),
            ["next"] = page.Next,
        }.ToJsonString(ConfigJson.Options), "application/json");
}
