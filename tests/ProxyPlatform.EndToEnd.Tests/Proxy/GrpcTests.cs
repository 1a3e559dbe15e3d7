using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Proxy;

[Collection(ProxyCollection.Name)]
public sealed class GrpcTests(ProxyFixture fixture)
{
    [Fact]
    public async Task A_gRPC_call_over_h2c_reaches_an_HTTP2_only_backend_and_its_trailers_come_back()
    {
        await using var grpc = await ScriptedBackend.StartGrpcEchoAsync("grpc");
        await fixture.TenantAsync("grpc", "grpc.test");
        await fixture.ClusterAsync("grpc", "echo", new { loadBalancing = "RoundRobin" }, ("grpc", grpc.Address, 1));
        await fixture.ServedAsync(await fixture.PutAsync("/v1/tenants/grpc/routes/main", new { match = new { pathPrefix = "/" }, cluster = "echo" }));

        // A unary call's framing: no compression, a 4-byte big-endian length, the message.
        byte[] frame = [0, 0, 0, 0, 5, .. "hello"u8];
        using var client = new HttpClient(new SocketsHttpHandler()) { BaseAddress = new Uri(fixture.EdgeH2cUrl), Timeout = TimeSpan.FromSeconds(20) };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/echo.Echo/Say")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Headers.Host = "grpc.test";
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        // Kestrel serves an Http1AndHttp2 endpoint without TLS as HTTP/1.1 only: gRPC clients use the
        // worker's HTTP/2-only cleartext listener (Proxy:H2cUrl).
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(frame, body);
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal("echoed", response.TrailingHeaders.GetValues("grpc-message").Single());
        Assert.Equal(1, grpc.Requests);
    }
}
