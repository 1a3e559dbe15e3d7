using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.OpenApi;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.ControlPlane.Hosting;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>
/// The admin API's OpenAPI document at <c>/openapi/v1.json</c>, anonymous like DESIGN.md says: every REST
/// endpoint of the admin listener, its body and answer schemas, its problem answers and the bearer scheme.
/// </summary>
/// <remarks>
/// The handlers answer JSON they build themselves, so what they take and answer is declared here, in
/// one table keyed by method and route, rather than on each handler.
/// </remarks>
public static class AdminOpenApi
{
    public const string DocumentPath = "/openapi/{documentName}.json";
    private const string Json = "application/json";

    /// <summary>What an endpoint takes and answers, beside the problems every <c>/v1</c> endpoint can answer.</summary>
    private sealed record Shape(Type? Body, params (int Status, Type Type)[] Answers)
    {
        public string BodyType { get; init; } = Json;
    }

    private static (int, Type) Ok<T>() => (StatusCodes.Status200OK, typeof(T));
    private static (int, Type) Created<T>() => (StatusCodes.Status201Created, typeof(T));
    private static readonly (int, Type) Pending = (StatusCodes.Status202Accepted, typeof(Rollout));
    private static readonly (int, Type) NoContent = (StatusCodes.Status204NoContent, typeof(void));

    private static Shape Read<T>() => new(null, Ok<T>());
    private static Shape List<T>() => new(null, Ok<Page<T>>());
    private static Shape Write<TBody, T>() => new(typeof(TBody), Ok<T>(), Created<T>(), Pending);
    private static readonly Shape Delete = new(null, NoContent, Pending);

    private static readonly Dictionary<string, Shape> Shapes = new(StringComparer.Ordinal)
    {
        ["GET /v1/tenants"] = List<TenantSpec>(),
        ["GET /v1/tenants/{tenant}"] = Read<TenantSpec>(),
        ["PUT /v1/tenants/{tenant}"] = Write<TenantSpec, TenantSpec>(),
        ["DELETE /v1/tenants/{tenant}"] = Delete,
        ["GET /v1/tenants/{tenant}/clusters"] = List<ClusterSpec>(),
        ["GET /v1/tenants/{tenant}/clusters/{cluster}"] = Read<ClusterSpec>(),
        ["PUT /v1/tenants/{tenant}/clusters/{cluster}"] = Write<ClusterSpec, ClusterSpec>(),
        ["DELETE /v1/tenants/{tenant}/clusters/{cluster}"] = Delete,
        ["GET /v1/tenants/{tenant}/clusters/{cluster}/backends"] = List<BackendSpec>(),
        ["GET /v1/tenants/{tenant}/clusters/{cluster}/backends/{backend}/health-history"] = List<VerdictChange>(),
        ["GET /v1/tenants/{tenant}/clusters/{cluster}/backends/{backend}"] = Read<BackendSpec>(),
        ["PUT /v1/tenants/{tenant}/clusters/{cluster}/backends/{backend}"] = Write<BackendSpec, BackendSpec>(),
        ["DELETE /v1/tenants/{tenant}/clusters/{cluster}/backends/{backend}"] = Delete,
        ["GET /v1/tenants/{tenant}/routes"] = List<RouteSpec>(),
        ["GET /v1/tenants/{tenant}/routes/{route}"] = Read<RouteSpec>(),
        ["PUT /v1/tenants/{tenant}/routes/{route}"] = Write<RouteSpec, RouteSpec>(),
        ["DELETE /v1/tenants/{tenant}/routes/{route}"] = Delete,
        ["GET /v1/tenants/{tenant}/certificates"] = List<CertificateView>(),
        ["GET /v1/tenants/{tenant}/certificates/{certificate}"] = Read<CertificateView>(),
        ["PUT /v1/tenants/{tenant}/certificates/{certificate}"] = Write<CertificateSpec, CertificateView>(),
        ["DELETE /v1/tenants/{tenant}/certificates/{certificate}"] = Delete,
        ["GET /v1/tenants/{tenant}/metrics"] = Read<TenantTrafficReport>(),
        ["GET /v1/tenants/{tenant}/metrics/history"] = Read<TrafficHistoryReport>(),
        ["GET /v1/tenants/{tenant}/config"] = Read<ConfigDocumentShape>(),
        ["PUT /v1/tenants/{tenant}/config"] = new(typeof(ConfigDocumentShape), Ok<ConfigApplyShape>()),
        ["POST /v1/tenants/{tenant}/rollback"] = new(typeof(RestConfigApi.RollbackRequest), Ok<ConfigApplyShape>()),
        ["GET /v1/audit"] = List<AuditEntryShape>(),
        ["GET /v1/tenants/{tenant}/audit"] = List<AuditEntryShape>(),
        ["POST /v1/tenants/{tenant}/explain"] = new(typeof(ProxyPlatform.Routing.ExplainQuery), Ok<ProxyPlatform.Routing.RequestExplanation>()),
        ["GET /v1/dataplanes"] = List<DataPlaneStatus>(),
        ["GET /v1/revisions/{revision}"] = Read<Rollout>(),
        ["POST /v1/keys"] = new(typeof(KeyRequest), Created<Credential>()),
        ["GET /v1/keys"] = List<Credential>(),
        ["GET /v1/keys/{id}"] = Read<Credential>(),
        ["DELETE /v1/keys/{id}"] = new(null, NoContent),
        ["GET /v1/pools"] = List<PoolSpec>(),
        ["GET /v1/pools/{pool}"] = Read<PoolSpec>(),
        ["PUT /v1/pools/{pool}"] = Write<PoolSpec, PoolSpec>(),
        ["PATCH /v1/pools/{pool}"] = Write<PoolSpec, PoolSpec>() with { BodyType = Scaling.MergePatch.ContentType },
        ["DELETE /v1/pools/{pool}"] = Delete,
        ["POST /v1/pools/{pool}/tokens"] = new(typeof(PoolTokenRequest), Created<Credential>()),
        ["GET /v1/pools/{pool}/tokens"] = List<Credential>(),
        ["DELETE /v1/pools/{pool}/tokens/{id}"] = new(null, NoContent),
    };

    /// <summary>
    /// The body an endpoint takes, for the document only: unlike <see cref="AcceptsMetadata"/>, routing does not read it,
    /// so a body sent with another media type is still judged by the handler (a 400 naming the field), never a 404.
    /// </summary>
    private sealed record DescribedBody(Type Type, string ContentType);

    /// <summary>The problems any <c>/v1</c> call can answer: bad input, no or a refused key, absent, in conflict, stale If-Match.</summary>
    private static readonly int[] ProblemStatuses = [400, 401, 403, 404, 409, 412];

    public static IServiceCollection AddAdminOpenApi(this IServiceCollection services) =>
        services.AddOpenApi("v1", options =>
        {
            // The admin listener's REST API; the ops endpoints and the document itself are not part of it.
            options.ShouldInclude = description =>
                description.ActionDescriptor.EndpointMetadata.OfType<ServedOn>().Any(s => s.Listener == Listener.Admin)
                && description.RelativePath?.StartsWith("v1/", StringComparison.Ordinal) == true;
            options.AddOperationTransformer(async (operation, context, ct) =>
            {
                if (context.Description.ActionDescriptor.EndpointMetadata.OfType<DescribedBody>().FirstOrDefault() is not { } body)
                    return;
                var schema = await context.GetOrCreateSchemaAsync(body.Type, null, ct);
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Content = new Dictionary<string, OpenApiMediaType> { [body.ContentType] = new OpenApiMediaType { Schema = schema } },
                };
            });
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "ProxyPlatform admin API",
                    Version = "v1",
                    Description = "Tenants, clusters, backends, routes, certificates, pools, keys and workers. A resource's answer is its IDs, "
                        + "the body as PUT takes it, and its revision. Lists take ?limit= (1 to 1000, default 100) and ?after= (the previous "
                        + "page's next) and answer {items, next}. Errors are RFC 9457 problems.",
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "An API key (ppk_…) from POST /v1/keys, or the bootstrap operator key.",
                };
                document.Security ??= [];
                document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] });
                return Task.CompletedTask;
            });
        });

    /// <summary>Declares each <c>/v1</c> endpoint's body, answers and problems (<see cref="Shapes"/>).</summary>
    public static TBuilder WithAdminOpenApi<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder
    {
        builder.Add(endpoint =>
        {
            if (endpoint is not RouteEndpointBuilder { RoutePattern.RawText: { } raw })
                return;
            // A group's own path ("/v1/pools" + "") is its pattern with a trailing slash.
            var pattern = raw.Length > 1 ? raw.TrimEnd('/') : raw;
            foreach (var method in endpoint.Metadata.OfType<IHttpMethodMetadata>().SelectMany(m => m.HttpMethods).Distinct().ToList())
            {
                if (Shapes.TryGetValue($"{method} {pattern}", out var shape))
                {
                    if (shape.Body is { } body)
                        endpoint.Metadata.Add(new DescribedBody(body, shape.BodyType));
                    foreach (var (status, type) in shape.Answers)
                        endpoint.Metadata.Add(new ProducesResponseTypeMetadata(status, type, type == typeof(void) ? [] : [Json]));
                }
            }
            foreach (var status in ProblemStatuses)
                endpoint.Metadata.Add(new ProducesResponseTypeMetadata(status, typeof(ProblemDetails), ["application/problem+json"]));
        });
        return builder;
    }

    /// <summary>Serves the document to anyone: it says what the API is, not what is in it.</summary>
    public static IEndpointConventionBuilder MapAdminOpenApi(this IEndpointRouteBuilder app) =>
        app.MapOpenApi(DocumentPath).AllowAnonymous().WithMetadata(new ServedOn(Listener.Admin));
}

/// <summary>A tenant's configuration document as <c>/v1/tenants/{t}/config</c> answers and takes it: clusters (each with its backends) and routes by ID.</summary>
public sealed record ConfigDocumentShape(
    string? Tenant, long? Revision,
    IReadOnlyDictionary<string, System.Text.Json.Nodes.JsonObject> Clusters,
    IReadOnlyDictionary<string, RouteSpec> Routes);

/// <summary>The answer of an apply, a dry run or a rollback: the revision it made (none when unchanged or dry) and the diff.</summary>
public sealed record ConfigApplyShape(long? Revision, bool DryRun, bool Unchanged, ConfigDiffShape Diff);

public sealed record ConfigDiffShape(
    IReadOnlyList<System.Text.Json.Nodes.JsonObject> Added,
    IReadOnlyList<System.Text.Json.Nodes.JsonObject> Changed,
    IReadOnlyList<System.Text.Json.Nodes.JsonObject> Removed);

/// <summary>One audit entry: who (key id and name), what, on which resource, at which revision, with before and after.</summary>
public sealed record AuditEntryShape(
    long Id, DateTimeOffset Time, AuditActorShape Actor, string Action, string? Tenant, string Resource, long? Revision,
    string? RequestId, System.Text.Json.Nodes.JsonObject? Before, System.Text.Json.Nodes.JsonObject? After);

public sealed record AuditActorShape(string Id, string Name);
