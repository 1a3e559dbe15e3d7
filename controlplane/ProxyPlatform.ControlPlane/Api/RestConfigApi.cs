using System.Text.Json;
using System.Text.Json.Nodes;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.ControlPlane.Documents;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>An admin endpoint that takes a larger body than <see cref="RestAdminApi.MaxBodyBytes"/> (a configuration document).</summary>
public sealed record AdminBodyLimit(long Bytes);

/// <summary>
/// A tenant's configuration as one document (DESIGN.md, "Operations"): <c>GET|PUT /v1/tenants/{t}/config</c>
/// and <c>POST /v1/tenants/{t}/rollback</c>. Mapped in the <c>/v1</c> group, so the group's key check and
/// its tenant check (read for GET, write otherwise) come first.
/// </summary>
public static class RestConfigApi
{
    public static RouteGroupBuilder MapConfigDocuments(this RouteGroupBuilder v1)
    {
        v1.MapGet("/tenants/{tenant}/config", async (string tenant, ConfigOperations ops, HttpContext c) =>
        {
            var (document, etag) = await ops.Get(Who(c), tenant, Query(c, "revision"));
            c.Response.Headers.ETag = etag;
            return Json(document);
        });
        v1.MapPut("/tenants/{tenant}/config", async (string tenant, ConfigOperations ops, HttpContext c) =>
        {
            var dryRun = DryRun(c);
            var document = await JsonNode.ParseAsync(c.Request.Body, cancellationToken: c.RequestAborted);
            return Answer(c, await ops.Apply(Who(c), tenant, document, IfMatch(c), dryRun));
        }).WithMetadata(new AdminBodyLimit(ConfigDocument.MaxBytes));
        v1.MapPost("/tenants/{tenant}/rollback", async (string tenant, ConfigOperations ops, HttpContext c) =>
        {
            var dryRun = DryRun(c);
            var body = await JsonSerializer.DeserializeAsync<RollbackRequest>(c.Request.Body, ConfigJson.Options, c.RequestAborted);
            return Answer(c, await ops.Rollback(Who(c), tenant, body?.Revision, dryRun));
        });
        return v1;
    }

    /// <summary>The body of a rollback.</summary>
    public sealed record RollbackRequest
    {
        public long? Revision { get; init; }
    }

    private static IResult Answer(HttpContext context, (JsonObject Answer, string? ETag) result)
    {
        if (result.Answer["revision"]?.GetValue<long>() is { } revision)
            context.Response.Headers[RestAdminApi.RevisionHeader] = revision.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (result.ETag is not null)
            context.Response.Headers.ETag = result.ETag;
        return Json(result.Answer);
    }

    private static bool DryRun(HttpContext context) => Query(context, "dryRun") switch
    {
        null or "false" => false,
        "true" => true,
        _ => throw AdminException.Invalid("dryRun", "must be true or false."),
    };

    private static Caller Who(HttpContext context) => Caller.From(context.User);

    private static string? Query(HttpContext context, string name) =>
        context.Request.Query.TryGetValue(name, out var value) ? value.ToString() : null;

    private static string? IfMatch(HttpContext context) => context.Request.Headers.IfMatch.ToString() is { Length: > 0 } v ? v : null;

    private static IResult Json(JsonObject body) => Results.Text(body.ToJsonString(ConfigJson.Options), "application/json");
}
