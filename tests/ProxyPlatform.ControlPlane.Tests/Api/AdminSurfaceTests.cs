using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;
using ProxyPlatform.ControlPlane.Hosting;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.ControlPlane.Tests.Api;

/// <summary>
/// The admin API's surface as the real app maps it (built as Program.cs builds it, never started): every REST
/// operation has its gRPC method, and the OpenAPI document describes every one of them.
/// </summary>
public sealed class AdminSurfaceTests
{
    /// <summary>
    /// Each REST operation and the gRPC method that does the same. A REST endpoint missing here fails
    /// <see cref="Every_REST_operation_has_its_gRPC_method"/>: add its gRPC method and its line.
    /// </summary>
    private static readonly Dictionary<string, string> RestToGrpc = new(StringComparer.Ordinal)
    {
        ["GET /v1/tenants"] = "ListTenants",
        ["GET /v1/tenants/{tenant}"] = "GetTenant",
        ["PUT /v1/tenants/{tenant}"] = "PutTenant",
        ["DELETE /v1/tenants/{tenant}"] = "DeleteTenant",
        ["GET /v1/tenants/{tenant}/clusters"] = "ListClusters",
        ["GET /v1/tenants/{tenant}/clusters/{cluster}"] = "GetCluster",
        ["PUT /v1/tenants/{tenant}/clusters/{cluster}"] = "PutCluster",
        ["DELETE /v1/tenants/{tenant}/clusters/{cluster}"] = "DeleteCluster",
        ["GET /v1/tenants/{tenant}/clusters/{cluster}/backends"] = "ListBackends",
        ["GET /v1/tenants/{tenant}/clusters/{cluster}/backends/{backend}/health-history"] = "GetBackendHealthHistory",
        ["GET /v1/tenants/{tenant}/clusters/{cluster}/backends/{backend}"] = "GetBackend",
        ["PUT /v1/tenants/{tenant}/clusters/{cluster}/backends/{backend}"] = "PutBackend",
        ["DELETE /v1/tenants/{tenant}/clusters/{cluster}/backends/{backend}"] = "DeleteBackend",
        ["GET /v1/tenants/{tenant}/routes"] = "ListRoutes",
        ["GET /v1/tenants/{tenant}/routes/{route}"] = "GetRoute",
        ["PUT /v1/tenants/{tenant}/routes/{route}"] = "PutRoute",
        ["DELETE /v1/tenants/{tenant}/routes/{route}"] = "DeleteRoute",
        ["GET /v1/tenants/{tenant}/certificates"] = "ListCertificates",
        ["GET /v1/tenants/{tenant}/certificates/{certificate}"] = "GetCertificate",
        ["PUT /v1/tenants/{tenant}/certificates/{certificate}"] = "PutCertificate",
        ["DELETE /v1/tenants/{tenant}/certificates/{certificate}"] = "DeleteCertificate",
        ["GET /v1/tenants/{tenant}/metrics"] = "GetTenantMetrics",
        ["GET /v1/tenants/{tenant}/metrics/history"] = "GetTenantTrafficHistory",
        ["POST /v1/tenants/{tenant}/explain"] = "ExplainRequest",
        ["GET /v1/dataplanes"] = "ListDataplanes",
        ["GET /v1/revisions/{revision}"] = "GetRevision",
        ["POST /v1/keys"] = "CreateKey",
        ["GET /v1/keys"] = "ListKeys",
        ["GET /v1/keys/{id}"] = "GetKey",
        ["DELETE /v1/keys/{id}"] = "RevokeKey",
        ["GET /v1/pools"] = "ListPools",
        ["GET /v1/pools/{pool}"] = "GetPool",
        ["PUT /v1/pools/{pool}"] = "PutPool",
        ["PATCH /v1/pools/{pool}"] = "PatchPool",
        ["DELETE /v1/pools/{pool}"] = "DeletePool",
        ["POST /v1/pools/{pool}/tokens"] = "CreatePoolToken",
        ["GET /v1/pools/{pool}/tokens"] = "ListPoolTokens",
        ["DELETE /v1/pools/{pool}/tokens/{id}"] = "RevokePoolToken",
        // Issue 16's configuration documents and audit trail (branches configdoc and audit).
        ["GET /v1/tenants/{tenant}/config"] = "GetConfig",
        ["PUT /v1/tenants/{tenant}/config"] = "ApplyConfig",
        ["POST /v1/tenants/{tenant}/rollback"] = "Rollback",
        ["GET /v1/audit"] = "ListAudit",
        ["GET /v1/tenants/{tenant}/audit"] = "ListAudit",
    };

    /// <summary>Endpoints of the admin listener that are not admin operations, and why.</summary>
    private static readonly Dictionary<string, string> NotOperations = new(StringComparer.Ordinal)
    {
        ["/openapi/"] = "the OpenAPI document describes the API; gRPC has server reflection for the same",
        ["/ui"] = "the web console is a client of the REST API, not an operation",
        ["/healthz"] = "ops: liveness, on the ops listener",
        ["/readyz"] = "ops: readiness, on the ops listener",
        ["/metrics"] = "ops: Prometheus scrape, on the ops listener",
    };

    [Fact]
    public async Task Every_REST_operation_has_its_gRPC_method()
    {
        await using var app = BuildApp();
        var grpc = AdminPb.Admin.Descriptor.Methods.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        var operations = RestOperations(app);
        Assert.Contains("GET /v1/tenants/{tenant}/clusters", operations);

        var unmapped = operations.Where(o => !RestToGrpc.ContainsKey(o)).ToList();
        Assert.True(unmapped.Count == 0, $"REST operations with no gRPC method in the map: {string.Join(", ", unmapped)}");
        var missing = operations.Where(o => !grpc.Contains(RestToGrpc[o])).Select(o => $"{o} -> {RestToGrpc[o]}").ToList();
        Assert.True(missing.Count == 0, $"REST operations mapped to a method the gRPC Admin service lacks: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Every_gRPC_write_says_whether_it_created_the_resource()
    {
        var puts = AdminPb.Admin.Descriptor.Methods.Where(m => m.Name.StartsWith("Put", StringComparison.Ordinal) || m.Name == "PatchPool").ToList();
        Assert.NotEmpty(puts);
        foreach (var put in puts)
        {
            var created = put.OutputType.FindFieldByName("created");
            Assert.True(created is { FieldType: Google.Protobuf.Reflection.FieldType.Bool }, $"{put.Name} answers {put.OutputType.Name}, which has no bool created");
        }
    }

    [Fact]
    public void Every_gRPC_list_pages_like_REST()
    {
        foreach (var list in AdminPb.Admin.Descriptor.Methods.Where(m => m.Name.StartsWith("List", StringComparison.Ordinal) || m.Name == "GetBackendHealthHistory"))
        {
            Assert.True(list.InputType.FindFieldByName("limit") is { FieldType: Google.Protobuf.Reflection.FieldType.Int32 }, $"{list.Name} takes no limit");
            Assert.True(list.InputType.FindFieldByName("after") is { FieldType: Google.Protobuf.Reflection.FieldType.String }, $"{list.Name} takes no after");
            Assert.True(list.OutputType.FindFieldByName("next") is { FieldType: Google.Protobuf.Reflection.FieldType.String }, $"{list.Name} answers no next");
        }
    }

    [Fact]
    public async Task OpenAPI_document_is_valid_and_describes_every_operation_with_its_problems_and_the_bearer_scheme()
    {
        await using var app = BuildApp();
        var provider = app.Services.GetRequiredKeyedService<IOpenApiDocumentProvider>("v1");
        var generated = await provider.GetOpenApiDocumentAsync(TestContext.Current.CancellationToken);
        var json = await generated.SerializeAsJsonAsync(OpenApiSpecVersion.OpenApi3_1, TestContext.Current.CancellationToken);

        var read = OpenApiDocument.Parse(json, "json");
        Assert.Empty(read.Diagnostic?.Errors ?? []);
        var document = read.Document!;
        Assert.Empty(document.Validate(ValidationRuleSet.GetDefaultRuleSet()) ?? []);

        foreach (var operation in RestOperations(app))
        {
            var (method, path) = (operation[..operation.IndexOf(' ')], operation[(operation.IndexOf(' ') + 1)..]);
            Assert.True(document.Paths.TryGetValue(path, out var item), $"{path} is not in the OpenAPI document, which has {string.Join(", ", document.Paths.Keys)}");
            var described = item!.Operations?.FirstOrDefault(o => o.Key.Method.Equals(method, StringComparison.OrdinalIgnoreCase)).Value;
            Assert.True(described is not null, $"{operation} is not in the OpenAPI document");
            foreach (var status in new[] { "400", "401", "403", "404", "409", "412" })
            {
                Assert.True(described!.Responses?.TryGetValue(status, out var problem) == true && problem.Content?.ContainsKey("application/problem+json") == true,
                    $"{operation} does not describe its {status} problem");
            }
            var success = described!.Responses!.Where(r => r.Key.StartsWith('2')).ToList();
            Assert.True(success.Count > 0, $"{operation} describes no success");
            if (method is "GET")
                Assert.True(success.Any(r => r.Value.Content?.TryGetValue("application/json", out var body) == true && body.Schema is not null), $"{operation} describes no answer schema");
            if (method is "PUT" or "PATCH" || operation is "POST /v1/keys" or "POST /v1/pools/{pool}/tokens" or "POST /v1/tenants/{tenant}/explain")
                Assert.True(described.RequestBody?.Content?.Values.Any(c => c.Schema is not null) == true, $"{operation} describes no body schema");
        }
        Assert.Contains("bearer", document.Components!.SecuritySchemes!.Keys);
        Assert.Equal("bearer", document.Components.SecuritySchemes["bearer"].Scheme);
        Assert.NotEmpty(document.Security ?? []);
        var page = document.Paths["/v1/tenants/{tenant}/routes"].Operations![HttpMethod.Get].Responses!["200"].Content!["application/json"].Schema!;
        Assert.Contains("next", Resolve(document, page).Properties!.Keys);
        Assert.Contains("items", Resolve(document, page).Properties!.Keys);
    }

    private static IOpenApiSchema Resolve(OpenApiDocument document, IOpenApiSchema schema) =>
        schema is OpenApiSchemaReference reference ? document.Components!.Schemas![reference.Reference.Id!] : schema;

    /// <summary>"METHOD /pattern" of every operation the admin listener serves, less <see cref="NotOperations"/>.</summary>
    private static List<string> RestOperations(WebApplication app) =>
        [.. ((IEndpointRouteBuilder)app).DataSources.SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<ServedOn>() is { Listener: Listener.Admin })
            // The fallback (any path, any method) is the 404 problem, not an operation.
            .Where(e => e.Metadata.GetMetadata<IHttpMethodMetadata>() is not null)
            .Where(e => !NotOperations.Keys.Any(prefix => e.RoutePattern.RawText!.StartsWith(prefix, StringComparison.Ordinal)))
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods.Select(m => $"{m} {e.RoutePattern.RawText!.TrimEnd('/')}"))
            .Distinct()];

    /// <summary>The control plane as Program.cs builds and maps it; nothing is started, so nothing connects anywhere.</summary>
    private static WebApplication BuildApp()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Username=nobody;Database=nothing",
            ["Auth:OperatorKey"] = "op-" + Convert.ToHexString(Encoding.UTF8.GetBytes("admin-surface-tests")),
        });
        builder.AddControlPlane();
        var app = builder.Build();
        app.MapControlPlane();
        // What the host does as it starts: the mapped endpoints join the routing options that ApiExplorer (and so OpenAPI) reads.
        app.UseEndpoints(_ => { });
        return app;
    }
}
