using System.Text.Json;
using System.Text.Json.Nodes;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.DataPlanes;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>The REST admin API (v1) as DESIGN.md's contract describes it.</summary>
public static class RestAdminApi
{
    public const string RevisionHeader = "X-Config-Revision";

    public static IEndpointRouteBuilder MapRestAdminApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").AddEndpointFilter(RejectAsProblem);

        v1.MapGet("/tenants", async (AdminOperations ops) =>
            Items((await ops.ListTenants()).Select(Render)));
        v1.MapGet("/tenants/{tenant}", async (string tenant, AdminOperations ops, HttpContext c) =>
            Resource(c, await ops.GetTenant(tenant), t => t.Revision, Render));
        v1.MapPut("/tenants/{tenant}", async (string tenant, AdminOperations ops, HttpContext c) =>
            await Written(c, await ops.PutTenant(tenant, await Body<TenantSpec>(c), IfMatch(c)), t => t.Revision, Render));
        v1.MapDelete("/tenants/{tenant}", async (string tenant, AdminOperations ops, HttpContext c) =>
            await Deleted(c, await ops.DeleteTenant(tenant, IfMatch(c))));

        v1.MapGet("/tenants/{tenant}/clusters/{cluster}", async (string tenant, string cluster, AdminOperations ops, HttpContext c) =>
            Resource(c, await ops.GetCluster(tenant, cluster), r => r.Revision, Render));
        v1.MapPut("/tenants/{tenant}/clusters/{cluster}", async (string tenant, string cluster, AdminOperations ops, HttpContext c) =>
            await Written(c, await ops.PutCluster(tenant, cluster, await Body<ClusterSpec>(c), IfMatch(c)), r => r.Revision, Render));
        v1.MapDelete("/tenants/{tenant}/clusters/{cluster}", async (string tenant, string cluster, AdminOperations ops, HttpContext c) =>
            await Deleted(c, await ops.DeleteCluster(tenant, cluster, IfMatch(c))));

        v1.MapGet("/tenants/{tenant}/clusters/{cluster}/backends", async (string tenant, string cluster, AdminOperations ops) =>
            Items((await ops.ListBackendsWithHealth(tenant, cluster)).Select(b => Render(b.Backend, b.Health))));
        v1.MapGet("/tenants/{tenant}/clusters/{cluster}/backends/{backend}/health-history", async (string tenant, string cluster, string backend, AdminOperations ops, HttpContext c) =>
            Items((await ops.HealthHistory(tenant, cluster, backend, c.Request.Query.TryGetValue("limit", out var limit) ? limit.ToString() : null)).Select(Render)));
        v1.MapGet("/tenants/{tenant}/clusters/{cluster}/backends/{backend}", async (string tenant, string cluster, string backend, AdminOperations ops, HttpContext c) =>
            Resource(c, await ops.GetBackendWithHealth(tenant, cluster, backend), r => r.Backend.Revision, r => Render(r.Backend, r.Health)));
        v1.MapPut("/tenants/{tenant}/clusters/{cluster}/backends/{backend}", async (string tenant, string cluster, string backend, AdminOperations ops, HttpContext c) =>
            await Written(c, await ops.PutBackend(tenant, cluster, backend, await Body<BackendSpec>(c), IfMatch(c)), r => r.Revision, Render));
        v1.MapDelete("/tenants/{tenant}/clusters/{cluster}/backends/{backend}", async (string tenant, string cluster, string backend, AdminOperations ops, HttpContext c) =>
            await Deleted(c, await ops.DeleteBackend(tenant, cluster, backend, IfMatch(c))));

        v1.MapGet("/tenants/{tenant}/routes", async (string tenant, AdminOperations ops) =>
            Items((await ops.ListRoutes(tenant)).Select(Render)));
        v1.MapGet("/tenants/{tenant}/routes/{route}", async (string tenant, string route, AdminOperations ops, HttpContext c) =>
            Resource(c, await ops.GetRoute(tenant, route), r => r.Revision, Render));
        v1.MapPut("/tenants/{tenant}/routes/{route}", async (string tenant, string route, AdminOperations ops, HttpContext c) =>
            await Written(c, await ops.PutRoute(tenant, route, await Body<RouteSpec>(c), IfMatch(c)), r => r.Revision, Render));
        v1.MapDelete("/tenants/{tenant}/routes/{route}", async (string tenant, string route, AdminOperations ops, HttpContext c) =>
            await Deleted(c, await ops.DeleteRoute(tenant, route, IfMatch(c))));

        v1.MapGet("/tenants/{tenant}/metrics", async (string tenant, AdminOperations ops) =>
            Results.Text(JsonSerializer.Serialize(await ops.GetTenantMetrics(tenant), ConfigJson.Options), "application/json"));

        v1.MapGet("/dataplanes", async (DataPlaneDirectory directory, CancellationToken ct) =>
            Items((await directory.ListAsync(ct)).Select(Render)));
        v1.MapGet("/revisions/{revision}", async (string revision, Rollouts rollouts) =>
        {
            if (!long.TryParse(revision, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var r) || r <= 0)
                throw AdminException.Invalid("revision", $"'{revision}' is not a revision: expected a positive whole number.");
            var rollout = await rollouts.GetAsync(r) ?? throw AdminException.NotFound($"Revision {r}");
            return Results.Text(Render(rollout).ToJsonString(ConfigJson.Options), "application/json");
        });

        return app;
    }

    private const string WaitKey = "proxyplatform.wait";

    private static async ValueTask<object?> RejectAsProblem(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            // Parsed before the write, so a bad ?wait= changes nothing.
            if (context.HttpContext.Request.Query.TryGetValue("wait", out var wait))
                context.HttpContext.Items[WaitKey] = Durations.Parse("wait", wait.ToString(), Rollouts.MaxWait);
            return await next(context);
        }
        catch (AdminException ex)
        {
            return Problems.From(ex, context.HttpContext);
        }
        catch (JsonException ex)
        {
            return Problems.MalformedJson(context.HttpContext, ex);
        }
    }

    private static async Task<T?> Body<T>(HttpContext context) where T : class =>
        await JsonSerializer.DeserializeAsync<T>(context.Request.Body, ConfigJson.Options, context.RequestAborted);

    private static string? IfMatch(HttpContext context) => context.Request.Headers.IfMatch.ToString() is { Length: > 0 } v ? v : null;

    private static IResult Items(IEnumerable<JsonObject> items) =>
        Results.Text(new JsonObject { ["items"] = new JsonArray(items.Cast<JsonNode>().ToArray()) }.ToJsonString(ConfigJson.Options), "application/json");

    private static IResult Resource<T>(HttpContext context, T resource, Func<T, long> revision, Func<T, JsonObject> render)
    {
        context.Response.Headers.ETag = ETags.Format(revision(resource));
        return Results.Text(render(resource).ToJsonString(ConfigJson.Options), "application/json");
    }

    private static async Task<IResult> Written<T>(HttpContext context, WriteResult<T> result, Func<T, long> revision, Func<T, JsonObject> render)
    {
        context.Response.Headers.ETag = ETags.Format(revision(result.Resource));
        context.Response.Headers[RevisionHeader] = result.Revision.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (result.Created)
            context.Response.Headers.Location = context.Request.Path.Value;
        var body = render(result.Resource);
        if (await Rollout(context, result.Revision) is { Complete: false } pending)
            return Pending(body, pending);
        return Results.Text(body.ToJsonString(ConfigJson.Options), "application/json", statusCode: result.Created ? 201 : 200);
    }

    private static async Task<IResult> Deleted(HttpContext context, long revision)
    {
        context.Response.Headers[RevisionHeader] = revision.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (await Rollout(context, revision) is { Complete: false } pending)
            return Pending(new JsonObject { ["deleted"] = context.Request.Path.Value }, pending);
        return Results.NoContent();
    }

    /// <summary>With <c>?wait=</c>, waits until every connected worker of the pool has applied the revision.</summary>
    private static async Task<Rollout?> Rollout(HttpContext context, long revision)
    {
        if (context.Items[WaitKey] is not TimeSpan wait)
            return null;
        var rollouts = context.RequestServices.GetRequiredService<Rollouts>();
        var rollout = await rollouts.WaitAsync(revision, wait);
        context.Response.Headers["X-Config-Rollout"] = rollout.Complete ? "complete" : "pending";
        return rollout;
    }

    // 202: the write is durable and acknowledged, but not yet live on every worker.
    private static IResult Pending(JsonObject resource, Rollout rollout)
    {
        var body = Render(rollout);
        body["resource"] = resource;
        return Results.Text(body.ToJsonString(ConfigJson.Options), "application/json", statusCode: 202);
    }

    private static JsonObject Render(Rollout rollout) => new()
    {
        ["revision"] = rollout.Revision,
        ["pool"] = rollout.Pool,
        ["complete"] = rollout.Complete,
        ["pending"] = new JsonArray(rollout.Pending.Select(w => (JsonNode)w.Worker).ToArray()),
        ["workers"] = new JsonArray(rollout.Workers.Select(w => (JsonNode)new JsonObject
        {
            ["id"] = w.Worker,
            ["connected"] = w.Connected,
            ["appliedRevision"] = w.AppliedRevision,
            ["applied"] = w.AppliedRevision >= rollout.Revision,
        }).ToArray()),
    };

    private static JsonObject Render(DataPlaneStatus w) => new()
    {
        ["id"] = w.Worker,
        ["pool"] = w.Pool,
        ["node"] = w.Node,
        ["status"] = w.Connected ? "connected" : "disconnected",
        ["connectedSince"] = w.ConnectedSince,
        ["lastSeen"] = w.LastSeen,
        ["appliedRevision"] = w.AppliedRevision,
        ["lastNack"] = w.LastNack is { } nack
            ? new JsonObject { ["revision"] = nack.Revision, ["reason"] = nack.Reason, ["at"] = nack.At }
            : null,
    };

    private static JsonObject Render(TenantResource t) => With(new() { ["id"] = t.Tenant }, t.Spec, t.Revision);
    private static JsonObject Render(ClusterResource c) => With(new() { ["tenant"] = c.Tenant, ["id"] = c.Cluster }, c.Spec, c.Revision);
    private static JsonObject Render(BackendResource b) =>
        With(new() { ["tenant"] = b.Tenant, ["cluster"] = b.Cluster, ["id"] = b.Backend }, b.Spec, b.Revision);
    private static JsonObject Render(BackendResource b, BackendHealthStatus health)
    {
        var body = Render(b);
        body["health"] = new JsonObject
        {
            ["verdict"] = health.Verdict,
            ["since"] = health.Since,
            ["workers"] = new JsonArray(health.Workers.Select(w => (JsonNode)new JsonObject
            {
                ["worker"] = w.Worker,
                ["view"] = w.Observation.View.ToString().ToLowerInvariant(),
                ["since"] = w.Observation.Since,
                ["latencyMs"] = Math.Round(w.Observation.LatencyMs, 3),
                ["reason"] = w.Observation.Reason,
                ["outlier"] = w.Observation.Outlier,
                ["outlierReason"] = w.Observation.OutlierReason,
                ["reportedAt"] = w.ReportedAt,
            }).ToArray()),
        };
        return body;
    }

    private static JsonObject Render(VerdictChange change) => new()
    {
        ["verdict"] = change.Verdict,
        ["at"] = change.At,
        ["failing"] = change.Failing,
        ["passing"] = change.Passing,
        ["reporting"] = change.Reporting,
        ["revision"] = change.Revision,
    };

    private static JsonObject Render(RouteResource r) => With(new() { ["tenant"] = r.Tenant, ["id"] = r.Route }, r.Spec, r.Revision);

    // The resource is its IDs, then the body as the client would PUT it, then its revision.
    private static JsonObject With<TSpec>(JsonObject ids, TSpec spec, long revision)
    {
        foreach (var (name, value) in JsonSerializer.SerializeToNode(spec, ConfigJson.Options)!.AsObject().ToList())
            ids[name] = value?.DeepClone();
        ids["revision"] = revision;
        return ids;
    }
}
