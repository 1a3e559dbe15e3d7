using System.Net;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.EndToEnd.Tests;

/// <summary>Every class of bad input gets a 400 problem+json naming the field, the same message over gRPC, and stores nothing.</summary>
public sealed class AdminValidationTests(ControlPlaneOnly fixture) : IClassFixture<ControlPlaneOnly>, IAsyncLifetime
{
    private Platform Platform => fixture.Platform;
    private GrpcChannel _channel = null!;
    private AdminPb.Admin.AdminClient Grpc => new(_channel);

    public async ValueTask InitializeAsync()
    {
        _channel = AdminGrpc.Channel(Platform);
        await Platform.PutOkAsync("/v1/tenants/valid", new { hostnames = new[] { "valid.test" } });
        await Platform.PutOkAsync("/v1/tenants/valid/clusters/web", new { });
    }

    public ValueTask DisposeAsync()
    {
        _channel.Dispose();
        return ValueTask.CompletedTask;
    }

    [Theory]
    [InlineData(":8081")]
    [InlineData("localhost:8081")]
    [InlineData("10.0.0.5:8080")]
    [InlineData("ftp://10.0.0.5")]
    [InlineData("http://")]
    [InlineData("/relative/path")]
    [InlineData("")]
    public async Task Backend_address_that_is_not_an_absolute_http_url_is_rejected_on_both_APIs(string address)
    {
        var detail = await AssertRejected($"/v1/tenants/valid/clusters/web/backends/b1", JsonSerializer.Serialize(new { address }), "address");
        Assert.Contains("absolute http:// or https:// URL", detail, StringComparison.Ordinal);

        var error = await Assert.ThrowsAsync<RpcException>(async () => await Grpc.PutBackendAsync(new AdminPb.PutBackendRequest
        {
            Tenant = "valid", Cluster = "web", Backend = "b1", Spec = new AdminPb.BackendSpec { Address = address },
        }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(detail, error.Status.Detail);
        await AssertAbsent("/v1/tenants/valid/clusters/web/backends/b1");
    }

    [Theory]
    [InlineData("Upper")]
    [InlineData("has_underscore")]
    [InlineData("-leading-dash")]
    [InlineData("waaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay-too-long")]
    public async Task Ids_outside_the_allowed_pattern_are_rejected_on_both_APIs(string id)
    {
        var detail = await AssertRejected($"/v1/tenants/{id}", "{}", "tenant");
        var error = await Assert.ThrowsAsync<RpcException>(async () => await Grpc.PutTenantAsync(new AdminPb.PutTenantRequest { Tenant = id, Spec = new() }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(detail, error.Status.Detail);
        await AssertAbsent($"/v1/tenants/{id}");
    }

    [Fact]
    public async Task Route_naming_a_cluster_the_tenant_does_not_have_is_rejected_on_both_APIs()
    {
        var detail = await AssertRejected("/v1/tenants/valid/routes/r1", """{"match":{"pathPrefix":"/"},"cluster":"nope"}""", "cluster");
        Assert.Contains("nope", detail, StringComparison.Ordinal);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await Grpc.PutRouteAsync(new AdminPb.PutRouteRequest
        {
            Tenant = "valid", Route = "r1", Spec = new AdminPb.RouteSpec { Cluster = "nope", Match = new AdminPb.RouteMatch { PathPrefix = "/" } },
        }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(detail, error.Status.Detail);
        await AssertAbsent("/v1/tenants/valid/routes/r1");
    }

    [Fact]
    public async Task Route_of_another_tenants_cluster_is_rejected()
    {
        await Platform.PutOkAsync("/v1/tenants/other", new { hostnames = new[] { "other.test" } });
        await AssertRejected("/v1/tenants/other/routes/r1", """{"cluster":"web"}""", "cluster");
        await AssertAbsent("/v1/tenants/other/routes/r1");
    }

    [Theory]
    [InlineData("api")]
    [InlineData("/a{b}")]
    [InlineData("/a b")]
    [InlineData("//double")]
    public async Task Path_prefix_must_be_a_path_starting_with_a_slash(string prefix)
    {
        var detail = await AssertRejected("/v1/tenants/valid/routes/r2", JsonSerializer.Serialize(new { match = new { pathPrefix = prefix }, cluster = "web" }), "match.pathPrefix");
        var error = await Assert.ThrowsAsync<RpcException>(async () => await Grpc.PutRouteAsync(new AdminPb.PutRouteRequest
        {
            Tenant = "valid", Route = "r2", Spec = new AdminPb.RouteSpec { Cluster = "web", Match = new AdminPb.RouteMatch { PathPrefix = prefix } },
        }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(detail, error.Status.Detail);
        await AssertAbsent("/v1/tenants/valid/routes/r2");
    }

    [Theory]
    [InlineData("{ not json", "")]
    [InlineData("", "")]
    [InlineData("""{"address":"http://10.0.0.1","weight":"heavy"}""", "weight")]
    [InlineData("""{"adress":"http://10.0.0.1"}""", "adress")]
    [InlineData("""{"address":null}""", "address")]
    public async Task Malformed_json_is_a_400_naming_the_field_not_a_500(string body, string field)
    {
        var detail = await AssertRejected("/v1/tenants/valid/clusters/web/backends/b2", body, field, "malformed-json");
        Assert.NotEmpty(detail);
        await AssertAbsent("/v1/tenants/valid/clusters/web/backends/b2");
    }

    [Fact]
    public async Task Unknown_load_balancing_policy_and_out_of_range_settings_are_rejected()
    {
        await AssertRejected("/v1/tenants/valid/clusters/c2", """{"loadBalancing":"Fastest"}""", "loadBalancing");
        await AssertRejected("/v1/tenants/valid/clusters/c2", """{"retry":{"maxAttempts":0}}""", "retry.maxAttempts");
        await AssertRejected("/v1/tenants/valid/clusters/c2", """{"healthCheck":{"path":"nope"}}""", "healthCheck.path");
        await AssertAbsent("/v1/tenants/valid/clusters/c2");
    }

    [Fact]
    public async Task Problem_carries_the_callers_request_id_and_the_response_returns_it()
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, "/v1/tenants/Bad_Id") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Request-ID", "admin-trace-7");
        using var response = await Platform.Admin.SendAsync(request);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("admin-trace-7", problem.RootElement.GetProperty("requestId").GetString());
        Assert.Equal("admin-trace-7", response.Headers.GetValues("X-Request-ID").Single());
    }

    [Fact]
    public async Task Tenant_host_names_must_be_dns_names()
    {
        await AssertRejected("/v1/tenants/hosty", """{"hostnames":["Not A Host"]}""", "hostnames[0]");
        await AssertAbsent("/v1/tenants/hosty");
    }

    [Fact]
    public async Task Cluster_of_a_tenant_that_does_not_exist_is_a_404_and_stores_nothing()
    {
        using var response = await Platform.PutRawAsync("/v1/tenants/ghost/clusters/web", "{}");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        await AssertAbsent("/v1/tenants/ghost/clusters/web");
    }

    [Fact]
    public async Task Cluster_used_by_a_route_cannot_be_deleted()
    {
        await Platform.PutOkAsync("/v1/tenants/valid/clusters/used", new { });
        await Platform.PutOkAsync("/v1/tenants/valid/routes/uses", new { cluster = "used" });
        using var response = await Platform.Admin.DeleteAsync("/v1/tenants/valid/clusters/used");
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        using var still = await Platform.Admin.GetAsync("/v1/tenants/valid/clusters/used");
        Assert.Equal(HttpStatusCode.OK, still.StatusCode);
    }

    [Fact]
    public async Task The_same_resources_read_back_through_grpc()
    {
        await Platform.PutOkAsync("/v1/tenants/valid/clusters/web/backends/ok", new { address = "http://10.1.2.3:8080", weight = 3 });
        var reply = await Grpc.GetBackendAsync(new AdminPb.BackendRef { Tenant = "valid", Cluster = "web", Backend = "ok" });
        Assert.Equal("http://10.1.2.3:8080", reply.Spec.Address);
        Assert.Equal(3, reply.Spec.Weight);

        var route = await Grpc.PutRouteAsync(new AdminPb.PutRouteRequest
        {
            Tenant = "valid", Route = "viagrpc", Spec = new AdminPb.RouteSpec { Cluster = "web", Match = new AdminPb.RouteMatch { PathPrefix = "/g" } },
        });
        Assert.True(route.Meta.Revision > 0);
        using var rest = await Platform.Admin.GetAsync("/v1/tenants/valid/routes/viagrpc");
        Assert.Equal(HttpStatusCode.OK, rest.StatusCode);
        Assert.Equal($"\"{route.Meta.Revision}\"", rest.Headers.ETag!.Tag);
    }

    [Fact]
    public async Task A_body_over_one_mebibyte_is_refused_413_and_stores_nothing()
    {
        var huge = JsonSerializer.Serialize(new { match = new { pathPrefix = "/" + new string('x', 1_100_000) }, cluster = "web" });
        using var sized = await Platform.PutRawAsync("/v1/tenants/valid/routes/big", huge);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, sized.StatusCode);
        Assert.Equal("application/problem+json", sized.Content.Headers.ContentType?.MediaType);
        Assert.Contains("/problems/too-large", await sized.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Without a length up front, the limit holds as the body is read.
        var chunked = new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(huge)));
        chunked.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Put, "/v1/tenants/valid/routes/big") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        using var streamed = await Platform.Admin.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, streamed.StatusCode);
        await AssertAbsent("/v1/tenants/valid/routes/big");
    }

    [Theory]
    [InlineData("hostnames", 101)]
    [InlineData("match.methods", 17)]
    [InlineData("match.headers", 33)]
    public async Task Lists_longer_than_their_bound_are_refused_naming_the_list(string field, int count)
    {
        var (path, body) = field switch
        {
            "hostnames" => ("/v1/tenants/many", JsonSerializer.Serialize(new { hostnames = Enumerable.Range(0, count).Select(i => $"h{i}.many.test") })),
            "match.methods" => ("/v1/tenants/valid/routes/many", JsonSerializer.Serialize(new { cluster = "web", match = new { methods = Enumerable.Range(0, count).Select(i => $"M{i}") } })),
            _ => ("/v1/tenants/valid/routes/many", JsonSerializer.Serialize(new { cluster = "web", match = new { headers = Enumerable.Range(0, count).ToDictionary(i => $"x-h{i}", i => "v") } })),
        };
        var detail = await AssertRejected(path, body, field);
        Assert.Contains("at most", detail, StringComparison.Ordinal);
        await AssertAbsent(path);
    }

    private async Task<string> AssertRejected(string path, string body, string field, string type = "validation")
    {
        using var response = await Platform.PutRawAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"PUT {path} {body} answered {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(text);
        var root = problem.RootElement;
        Assert.Equal(400, root.GetProperty("status").GetInt32());
        Assert.Equal($"https://proxyplatform.dev/problems/{type}", root.GetProperty("type").GetString());
        Assert.Equal(field, root.GetProperty("field").GetString());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("requestId").GetString()));
        return root.GetProperty("detail").GetString()!;
    }

    private async Task AssertAbsent(string path)
    {
        using var response = await Platform.Admin.GetAsync(path);
        Assert.True(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest,
            $"GET {path} answered {(int)response.StatusCode}: nothing should have been stored");
    }
}
