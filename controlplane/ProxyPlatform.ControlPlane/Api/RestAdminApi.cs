using ProxyPlatform.Resources;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Net.Http.Headers;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.ControlPlane.DataPlanes;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>The REST admin API (v1) as DESIGN.md's contract describes it.</summary>
public static class RestAdminApi
{
    public const string RevisionHeader = "X-Config-Revision";
    /// <summary>The largest admin request body: one resource is far smaller.</summary>
    public const long MaxBodyBytes = 1024 * 1024;

    public static RouteGroupBuilder MapRestAdminApi(this IEndpointRouteBuilder app)
    {
        // Every /v1 endpoint needs an admin key; what a tenant's key may touch is the operation's check.
        var v1 = app.MapGroup("/v1").RequireAuthorization(Policies.Admin).AddEndpointFilter(RejectAsProblem);

        v1.MapGet("/tenants", async (AdminOperations ops, HttpContext c) =>
            Items((await ops.ListTenants(Who(c))).Select(Render)));
        v1.MapGet("/tenants/{tenant}", async (string tenant, AdminOperations ops, HttpContext c) =>
            Resource(c, await ops.GetTenantView(Who(c), tenant), t => t.Resource.Revision, Render));
        v1.MapPut("/tenants/{tenant}", async (string tenant, AdminOperations ops, HttpContext c) =>
            await Written(c, await ops.PutTenant(Who(c), tenant, await Body<TenantSpec>(c), IfMatch(c)), t => t.Revision, Render));
        v1.MapDelete("/tenants/{tenant}", async (string tenant, AdminOperations ops, HttpContext c) =>
            await Deleted(c, await ops.DeleteTenant(Who(c), tenant, IfMatch(c))));

        v1.MapGet("/tenants/{tenant}/clusters/{cluster}", async (string tenant, string cluster, AdminOperations ops, DataPlaneDirectory workers, HttpContext c) =>
        {
            var resource = await ops.GetCluster(Who(c), tenant, cluster);
            var rejectedBy = await workers.RejectionsOfAsync(ResourceKey.OfCluster(tenant, cluster), c.RequestAborted);
            return Resource(c, resource, r => r.Revision, r => RejectedBy(Render(r), rejectedBy));
        });
        v1.MapPut("/tenants/{tenant}/clusters/{cluster}", async (string tenant, string cluster, AdminOperations ops, HttpContext c) =>
        {
            var (result, warnings) = await ops.PutCluster(Who(c), tenant, cluster, await Body<ClusterSpec>(c), IfMatch(c));
            return await Written(c, result, r => r.Revision, r => Warned(c, Render(r), warnings));
        });
        v1.MapDelete("/tenants/{tenant}/clusters/{cluster}", async (string tenant, string cluster, AdminOperations ops, HttpContext c) =>
            await Deleted(c, await ops.DeleteCluster(Who(c), tenant, cluster, IfMatch(c))));

        v1.MapGet("/tenants/{tenant}/clusters/{cluster}/backends", async (string tenant, string cluster, AdminOperations ops, HttpContext c) =>
            Items((await ops.ListBackendsWithHealth(Who(c), tenant, cluster)).Select(b => Render(b.Backend, b.Health))));
        v1.MapGet("/tenants/{tenant}/clusters/{cluster}/backends/{backend}/health-history", async (string tenant, string cluster, string backend, AdminOperations ops, HttpContext c) =>
            Items((await ops.HealthHistory(Who(c), tenant, cluster, backend, c.Request.Query.TryGetValue("limit", out var limit) ? limit.ToString() : null)).Select(Render)));
        v1.MapGet("/tenants/{tenant}/clusters/{cluster}/backends/{backend}", async (string tenant, string cluster, string backend, AdminOperations ops, HttpContext c) =>
            Resource(c, await ops.GetBackendWithHealth(Who(c), tenant, cluster, backend), r => r.Backend.Revision, r => Render(r.Backend, r.Health)));
        v1.MapPut("/tenants/{tenant}/clusters/{cluster}/backends/{backend}", async (string tenant, string cluster, string backend, AdminOperations ops, HttpContext c) =>
            await Written(c, await ops.PutBackend(Who(c), tenant, cluster, backend, await Body<BackendSpec>(c), IfMatch(c)), r => r.Revision, Render));
        v1.MapDelete("/tenants/{tenant}/clusters/{cluster}/backends/{backend}", async (string tenant, string cluster, string backend, AdminOperations ops, HttpContext c) =>
            await Deleted(c, await ops.DeleteBackend(Who(c), tenant, cluster, backend, IfMatch(c))));

        v1.MapGet("/tenants/{tenant}/routes", async (string tenant, AdminOperations ops, HttpContext c) =>
            Items((await ops.ListRoutes(Who(c), tenant)).Select(Render)));
        v1.MapGet("/tenants/{tenant}/routes/{route}", async (string tenant, string route, AdminOperations ops, DataPlaneDirectory workers, HttpContext c) =>
        {
            var resource = await ops.GetRoute(Who(c), tenant, route);
            var rejectedBy = await workers.RejectionsOfAsync(ResourceKey.OfRoute(tenant, route), c.RequestAborted);
            var overlaps = await ops.GetRouteOverlaps(Who(c), tenant, route);
            return Resource(c, resource, r => r.Revision, r => Overlaps(RejectedBy(Render(r), rejectedBy), overlaps));
        });
        v1.MapPut("/tenants/{tenant}/routes/{route}", async (string tenant, string route, AdminOperations ops, HttpContext c) =>
        {
            // ?allowShadowed=true sets the route's allowShadowed, so a route can be let in behind another one.
            var allowShadowed = Query(c, "allowShadowed") switch
            {
                null or "false" => false,
                "true" => true,
                _ => throw AdminException.Invalid("allowShadowed", "must be true or false."),
            };
            var spec = await Body<RouteSpec>(c);
            if (allowShadowed && spec is not null)
                spec = spec with { AllowShadowed = true };
            return await Written(c, await ops.PutRoute(Who(c), tenant, route, spec, IfMatch(c)), r => r.Revision, Render);
        });
        v1.MapDelete("/tenants/{tenant}/routes/{route}", async (string tenant, string route, AdminOperations ops, HttpContext c) =>
            await Deleted(c, await ops.DeleteRoute(Who(c), tenant, route, IfMatch(c))));

        v1.MapGet("/tenants/{tenant}/certificates", async (string tenant, AdminOperations ops, HttpContext c) =>
            Items((await ops.ListCertificates(Who(c), tenant)).Select(Render)));
        v1.MapGet("/tenants/{tenant}/certificates/{certificate}", async (string tenant, string certificate, AdminOperations ops, HttpContext c) =>
            Resource(c, await ops.GetCertificate(Who(c), tenant, certificate), r => r.Revision, Render));
        v1.MapPut("/tenants/{tenant}/certificates/{certificate}", async (string tenant, string certificate, AdminOperations ops, HttpContext c) =>
            await Written(c, await ops.PutCertificate(Who(c), tenant, certificate, await Body<CertificateSpec>(c), IfMatch(c)), r => r.Revision, Render));
        v1.MapDelete("/tenants/{tenant}/certificates/{certificate}", async (string tenant, string certificate, AdminOperations ops, HttpContext c) =>
            await Deleted(c, await ops.DeleteCertificate(Who(c), tenant, certificate, IfMatch(c))));

        v1.MapGet("/tenants/{tenant}/metrics", async (string tenant, AdminOperations ops, HttpContext c) =>
            Results.Text(JsonSerializer.Serialize(await ops.GetTenantMetrics(Who(c), tenant), ConfigJson.Options), "application/json"));

        // A question, not a change: POST for its body, but reading the tenant is the right it needs.
        v1.MapPost("/tenants/{tenant}/explain", async (string tenant, ExplainOperations explain, HttpContext c) =>
            Results.Text(JsonSerializer.Serialize(await explain.Explain(Who(c), tenant, await Body<ProxyPlatform.Routing.ExplainQuery>(c), Query(c, "worker")), ConfigJson.Options), "application/json"))
            .WithMetadata(ReadOnly.Instance);

        v1.MapGet("/dataplanes", async (DataPlaneDirectory directory, CancellationToken ct) =>
            Items((await directory.ListWithProgressAsync(ct)).Select(Render))).RequireAuthorization(Policies.Operator);
        v1.MapGet("/revisions/{revision}", async (string revision, Rollouts rollouts, HttpContext c) =>
        {
            if (!long.TryParse(revision, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var r) || r <= 0)
                throw AdminException.Invalid("revision", $"'{revision}' is not a revision: expected a positive whole number.");
            var rollout = await rollouts.GetAsync(Who(c), r) ?? throw AdminException.NotFound($"Revision {r}");
            // ?wait= holds the answer until every connected worker has applied the revision, or the time is up.
            if (!rollout.Complete && await Rollout(c, r) is { } waited)
                rollout = waited;
            return Results.Text(Render(rollout).ToJsonString(ConfigJson.Options), "application/json");
        });

        v1.MapPost("/keys", async (KeyOperations keys, HttpContext c) =>
            Issued(c, await keys.CreateKey(Who(c), await Body<KeyRequest>(c)), $"/v1/keys/"));
        v1.MapGet("/keys", async (KeyOperations keys, HttpContext c) =>
            Page(await keys.ListKeys(Who(c), Query(c, "tenant"), Query(c, "limit"), Query(c, "after"))));
        v1.MapGet("/keys/{id}", async (string id, KeyOperations keys, HttpContext c) =>
            Json(Render(await keys.GetKey(Who(c), id))));
        v1.MapDelete("/keys/{id}", async (string id, KeyOperations keys, HttpContext c) =>
        {
            await keys.RevokeKey(Who(c), id);
            return Results.NoContent();
        });

        var pools = v1.MapGroup("/pools").RequireAuthorization(Policies.Operator);
        pools.MapGet("", async (AdminOperations ops, HttpContext c) =>
            Items((await ops.ListPools(Who(c))).Select(Render)));
        pools.MapGet("/{pool}", async (string pool, AdminOperations ops, HttpContext c) =>
            Resource(c, await ops.GetPool(Who(c), pool), p => p.Resource.Revision, Render));
        pools.MapPut("/{pool}", async (string pool, AdminOperations ops, HttpContext c) =>
            await Written(c, await ops.PutPool(Who(c), pool, await Body<PoolSpec>(c), IfMatch(c)), p => p.Revision, Render));
        pools.MapPatch("/{pool}", async (string pool, AdminOperations ops, HttpContext c) =>
            await Written(c, await ops.PatchPool(Who(c), pool, await MergePatchBody(c), IfMatch(c)), p => p.Revision, Render));
        pools.MapDelete("/{pool}", async (string pool, AdminOperations ops, HttpContext c) =>
            await Deleted(c, await ops.DeletePool(Who(c), pool, IfMatch(c))));

        var tokens = v1.MapGroup("/pools/{pool}/tokens").RequireAuthorization(Policies.Operator);
        tokens.MapPost("", async (string pool, KeyOperations keys, HttpContext c) =>
            Issued(c, await keys.CreatePoolToken(Who(c), pool, await Body<PoolTokenRequest>(c)), $"/v1/pools/{pool}/tokens/"));
        tokens.MapGet("", async (string pool, KeyOperations keys, HttpContext c) =>
            Page(await keys.ListPoolTokens(Who(c), pool, Query(c, "limit"), Query(c, "after"))));
        tokens.MapDelete("/{id}", async (string pool, string id, KeyOperations keys, HttpContext c) =>
        {
            await keys.RevokePoolToken(Who(c), pool, id);
            return Results.NoContent();
        });

        v1.MapConfigDocuments();
        return v1;
    }

    private const string WaitKey = "proxyplatform.wait";

    /// <summary>Marks an endpoint that reads whatever its method: a tenant's viewer key may call it.</summary>
    private sealed class ReadOnly
    {
        public static readonly ReadOnly Instance = new();
    }

    private static Caller Who(HttpContext context) => Caller.From(context.User);

    private static AdminException TooLarge(long limit) => AdminException.TooLarge("", $"the request body is larger than {limit} bytes, the most this admin request may carry.");

    // 1 MiB, unless the endpoint takes more (a configuration document).
    private static long BodyLimit(HttpContext context) => context.GetEndpoint()?.Metadata.GetMetadata<AdminBodyLimit>()?.Bytes ?? MaxBodyBytes;

    private static string? Query(HttpContext context, string name) =>
        context.Request.Query.TryGetValue(name, out var value) ? value.ToString() : null;

    private static async ValueTask<object?> RejectAsProblem(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            var request = context.HttpContext.Request;
            if (request.ContentLength > BodyLimit(context.HttpContext))
                throw TooLarge(BodyLimit(context.HttpContext));
            if (context.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
                limit.MaxRequestBodySize = BodyLimit(context.HttpContext);
            // A tenant's key learns nothing of another tenant, not even from how its body is judged:
            // the tenant in the path is checked before anything is read.
            if (context.HttpContext.GetRouteValue("tenant") is string tenant)
            {
                var caller = Who(context.HttpContext);
                caller.EnsureCanRead(tenant);
                if (!HttpMethods.IsGet(context.HttpContext.Request.Method) && context.HttpContext.GetEndpoint()?.Metadata.GetMetadata<ReadOnly>() is null)
                    caller.EnsureCanWrite(tenant);
            }
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
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Problems.From(TooLarge(BodyLimit(context.HttpContext)), context.HttpContext);
        }
    }

    private static async Task<T?> Body<T>(HttpContext context) where T : class =>
        await JsonSerializer.DeserializeAsync<T>(context.Request.Body, ConfigJson.Options, context.RequestAborted);

    /// <summary>A JSON merge patch's text; its media type must say that it is one (or plain JSON).</summary>
    private static async Task<string> MergePatchBody(HttpContext context)
    {
        var type = context.Request.ContentType is { } header && MediaTypeHeaderValue.TryParse(header, out var parsed) ? parsed.MediaType.ToString() : null;
        if (!string.Equals(type, Scaling.MergePatch.ContentType, StringComparison.OrdinalIgnoreCase) && !string.Equals(type, "application/json", StringComparison.OrdinalIgnoreCase))
            throw AdminException.Invalid("Content-Type", $"a PATCH body is a JSON merge patch: send it as {Scaling.MergePatch.ContentType}.");
        using var reader = new StreamReader(context.Request.Body);
        return await reader.ReadToEndAsync(context.RequestAborted);
    }

    private static string? IfMatch(HttpContext context) => context.Request.Headers.IfMatch.ToString() is { Length: > 0 } v ? v : null;

    private static IResult Items(IEnumerable<JsonObject> items) =>
        Json(new JsonObject { ["items"] = new JsonArray(items.Cast<JsonNode>().ToArray()) });

    private static IResult Page(CredentialPage page) =>
        Json(new JsonObject { ["items"] = new JsonArray(page.Items.Select(c => (JsonNode)Render(c)).ToArray()), ["next"] = page.Next });

    private static IResult Json(JsonObject body, int status = StatusCodes.Status200OK) =>
        Results.Text(body.ToJsonString(ConfigJson.Options), "application/json", statusCode: status);

    /// <summary>A credential just issued: its secret is in this answer and nowhere else, ever.</summary>
    private static IResult Issued(HttpContext context, IssuedCredential issued, string location)
    {
        context.Response.Headers.Location = location + issued.Credential.Id;
        context.Response.Headers.CacheControl = "no-store";
        var body = Render(issued.Credential);
        body["secret"] = issued.Secret;
        return Json(body, StatusCodes.Status201Created);
    }

    private static JsonObject Render(Credential c) => new()
    {
        ["id"] = c.Id,
        ["name"] = c.Name,
        ["role"] = c.Role,
        ["tenant"] = c.Tenant,
        ["pool"] = c.Pool,
        ["createdAt"] = c.CreatedAt,
        ["createdBy"] = c.CreatedBy,
        ["expiresAt"] = c.ExpiresAt,
        ["revokedAt"] = c.RevokedAt,
        ["lastUsedAt"] = c.LastUsedAt,
    };

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

    /// <summary>
    /// Adds what a write was accepted with but warned about: one RFC 9111 <c>Warning: 299 - "field: message"</c>
    /// header each, and <c>warnings: [{field, message}]</c> in the body.
    /// </summary>
    private static JsonObject Warned(HttpContext context, JsonObject body, IReadOnlyList<FieldError> warnings)
    {
        if (warnings.Count == 0)
            return body;
        context.Response.Headers.Warning = warnings
            .Select(w => "299 - " + QuotedString($"{w.Field}: {w.Message}"))
            .ToArray();
        body["warnings"] = new JsonArray(warnings.Select(w => (JsonNode)new JsonObject { ["field"] = w.Field, ["message"] = w.Message }).ToArray());
        return body;
    }

    /// <summary>An RFC 9110 quoted-string.</summary>
    private static string QuotedString(string text) =>
        '"' + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + '"';

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
        ["committedAt"] = rollout.CommittedAt,
        ["complete"] = rollout.Complete,
        ["pending"] = new JsonArray(rollout.Pending.Select(w => (JsonNode)w.Worker).ToArray()),
        ["workers"] = new JsonArray(rollout.Workers.Select(w => (JsonNode)new JsonObject
        {
            ["id"] = w.Worker,
            ["connected"] = w.Connected,
            ["appliedRevision"] = w.AppliedRevision,
            ["applied"] = w.HasApplied(rollout.Revision),
            // Milliseconds from the commit to the worker's acknowledgement; null when it has not applied it,
            // applied it before it connected, or the pool no longer remembers (past an hour).
            ["appliedAfterMs"] = rollout.AppliedAfterMs?.TryGetValue(w.Worker, out var ms) == true ? ms : null,
            ["state"] = w.Progress?.State,
        }).ToArray()),
    };

    private static JsonObject Render(DataPlaneStatus w) => new()
    {
        ["id"] = w.Worker,
        ["pool"] = w.Pool,
        ["node"] = w.Node,
        ["status"] = w.Connected ? "connected" : "disconnected",
        ["state"] = w.Progress?.State,
        ["connected"] = w.Connected,
        ["connectedSince"] = w.ConnectedSince,
        ["lastSeen"] = w.LastSeen,
        ["appliedRevision"] = w.AppliedRevision,
        ["lag"] = w.Progress is { } lag ? new JsonObject { ["revisions"] = lag.LagRevisions, ["seconds"] = lag.LagSeconds } : null,
        ["convergence"] = w.Progress is { } progress
            ? new JsonObject { ["p50Ms"] = progress.ConvergenceP50Ms, ["p99Ms"] = progress.ConvergenceP99Ms }
            : null,
        ["lastNack"] = w.LastNack is { } nack
            ? new JsonObject { ["revision"] = nack.Revision, ["reason"] = nack.Reason, ["at"] = nack.At }
            : null,
        ["rejected"] = new JsonArray(w.Rejected.Select(r => (JsonNode)new JsonObject
        {
            ["resource"] = r.Resource.ToString(),
            ["kind"] = ResourceKinds.IsKnown(r.Resource.Kind) ? ResourceKinds.Of(r.Resource.Kind).Name : null,
            ["tenant"] = r.Resource.Tenant,
            ["id"] = r.Resource.Id,
            ["revision"] = r.Revision,
            ["reason"] = r.Reason,
        }).ToArray()),
        ["rejectedOmitted"] = w.RejectedOmitted,
    };

    /// <summary>The resource, with the workers that do not serve it as written (each serves its last good version, or none) and why.</summary>
    private static JsonObject Overlaps(JsonObject resource, RouteOverlapView[] overlaps)
    {
        resource["overlaps"] = new JsonArray(overlaps.Select(o => (JsonNode)new JsonObject
        {
            ["route"] = o.Route,
            ["winner"] = o.Winner,
            ["rule"] = o.Rule,
            ["sampleRequest"] = o.SampleRequest is not { } sample ? null : new JsonObject
            {
                ["method"] = sample.Method,
                ["host"] = sample.Host,
                ["path"] = sample.Path,
                // A name may repeat (a request may carry a header twice): a list of name and value.
                ["headers"] = new JsonArray(sample.Headers.Select(h => (JsonNode)new JsonObject { ["name"] = h.Key, ["value"] = h.Value }).ToArray()),
            },
        }).ToArray());
        return resource;
    }

    private static JsonObject RejectedBy(JsonObject resource, IReadOnlyList<(string Worker, ResourceRejection Rejection)> rejections)
    {
        resource["rejectedBy"] = new JsonArray(rejections.Select(r => (JsonNode)new JsonObject
        {
            ["worker"] = r.Worker,
            ["revision"] = r.Rejection.Revision,
            ["reason"] = r.Rejection.Reason,
        }).ToArray());
        return resource;
    }

    private static JsonObject Render(TenantResource t) => With(new() { ["id"] = t.Tenant }, t.Spec, t.Revision);

    private static JsonObject Render(TenantView t)
    {
        var body = Render(t.Resource);
        var usage = new JsonObject();
        foreach (var quota in t.Usage)
            usage[quota.Quota] = new JsonObject { ["limit"] = quota.Limit, ["use"] = quota.Use };
        body["usage"] = usage;
        body["conflicts"] = new JsonArray(t.Conflicts.Select(c => (JsonNode)c).ToArray());
        return body;
    }

    private static JsonObject Render(PoolResource p) => With(new() { ["id"] = p.Pool }, p.Spec, p.Revision);

    private static JsonObject Render(PoolView p)
    {
        var body = Render(p.Resource);
        var replicas = p.Replicas;
        body["provider"] = replicas.Provider;
        body["desiredReplicas"] = replicas.Desired;
        body["actualReplicas"] = replicas.Actual;
        body["readyReplicas"] = replicas.Ready;
        body["drift"] = replicas.Drift;
        var reported = p.Workers.ToDictionary(w => w.Worker, StringComparer.Ordinal);
        body["workers"] = new JsonArray(replicas.Workers.Select(entry =>
        {
            var worker = reported.TryGetValue(entry.Id, out var status) ? Render(status) : new JsonObject { ["id"] = entry.Id, ["connected"] = false };
            worker["proxyUrl"] = entry.ProxyUrl;
            worker["opsUrl"] = entry.OpsUrl;
            worker["state"] = entry.State;
            worker["connected"] = entry.Connected;
            worker["lag"] = new JsonObject { ["revisions"] = entry.LagRevisions };
            return (JsonNode)worker;
        }).ToArray());
        return body;
    }
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

    /// <summary>A certificate's facts and ACME status; its private key is never part of an answer.</summary>
    private static JsonObject Render(CertificateView v) => new()
    {
        ["tenant"] = v.Tenant,
        ["id"] = v.Certificate,
        ["names"] = v.Issued is { } issued ? new JsonArray(issued.Names.Select(n => (JsonNode)n).ToArray()) : null,
        ["subject"] = v.Issued?.Subject,
        ["issuer"] = v.Issued?.Issuer,
        ["notBefore"] = v.Issued?.NotBefore,
        ["notAfter"] = v.Issued?.NotAfter,
        ["fingerprint"] = v.Issued?.Fingerprint,
        ["acme"] = v.Acme is { } acme ? new JsonObject
        {
            ["hosts"] = new JsonArray(acme.Hosts.Select(h => (JsonNode)h).ToArray()),
            ["state"] = acme.State,
            ["lastError"] = acme.LastError,
            ["lastErrorAt"] = acme.LastErrorAt,
            ["nextAttemptAt"] = acme.NextAttemptAt,
            ["renewAt"] = acme.RenewAt,
        } : null,
        ["revision"] = v.Revision,
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
