using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.DataPlane.RateLimiting;
using ProxyPlatform.DataPlane.Routing;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Tests.Infrastructure;

/// <summary>Clusters, routes and requests as the request path sees them, built the way the compiler builds them.</summary>
internal static class RequestPathParts
{
    public static readonly ResourceKey ClusterId = ResourceKey.OfCluster("acme", "web");

    /// <summary>A cluster <c>acme/web</c> of <paramref name="backends"/> (id → address), each with its own traffic counters.</summary>
    public static ClusterRuntime Cluster(ClusterSpec? spec, params (string Id, string Address)[] backends) =>
        ClusterRuntime.Build(ClusterId, new ClusterDefinition
        {
            Spec = spec ?? new ClusterSpec(),
            Backends = backends.ToDictionary(b => b.Id, b => new BackendSpec { Address = b.Address }),
        }, null, null, traffic: new TrafficRegistry());

    /// <summary>A route <c>acme/api</c> on <paramref name="prefix"/> sending to <paramref name="cluster"/>, counted on its own counters.</summary>
    public static CompiledRoute Route(ClusterRuntime? cluster, long? maxRequestBodyBytes = null, TimeSpan? timeout = null,
        TokenBucketLimiter? rateLimit = null, string prefix = "/") => new()
    {
        Id = ResourceKey.OfRoute("acme", "api"),
        Name = "acme/api",
        Cluster = new ClusterSlot(ClusterId) { Current = cluster },
        Hosts = ["acme.test"],
        Prefix = prefix,
        MaxRequestBodyBytes = maxRequestBodyBytes,
        Timeout = timeout,
        RateLimit = rateLimit,
        Traffic = new TrafficCounters(),
    };

    /// <summary>A request as Kestrel hands it over, with a response body the test can read.</summary>
    public static DefaultHttpContext Request(string method = "GET", string path = "/", byte[]? body = null, bool chunked = false)
    {
        var context = new DefaultHttpContext { TraceIdentifier = "req-1" };
        var request = context.Request;
        request.Method = method;
        request.Scheme = "http";
        request.Protocol = "HTTP/1.1";
        request.Host = new HostString("acme.test");
        request.Path = path;
        context.Connection.RemoteIpAddress = System.Net.IPAddress.Loopback;
        if (body is not null)
        {
            request.Body = new MemoryStream(body);
            if (chunked)
                request.Headers.TransferEncoding = "chunked";
            else
                request.ContentLength = body.Length;
        }
        context.Features.Set<IHttpRequestBodyDetectionFeature>(new BodyDetection(body is not null));
        var response = new MemoryStream();
        context.Items[typeof(RequestPathParts)] = response;
        context.Response.Body = response;
        return context;
    }

    /// <summary>The response body the worker wrote (whatever streams it was wrapped in on the way).</summary>
    public static string ResponseText(HttpContext context)
    {
        var body = (MemoryStream)context.Items[typeof(RequestPathParts)]!;
        return System.Text.Encoding.UTF8.GetString(body.ToArray());
    }

    /// <summary>The <c>type</c> of the problem+json the worker wrote, without the base URI.</summary>
    public static string ProblemType(HttpContext context)
    {
        Assert.Equal("application/problem+json", context.Response.ContentType);
        using var json = JsonDocument.Parse(ResponseText(context));
        return json.RootElement.GetProperty("type").GetString()!.Replace(ProxyPlatform.Http.ProblemJson.BaseUri, "", StringComparison.Ordinal);
    }

    /// <summary>The <c>detail</c> of the problem+json the worker wrote.</summary>
    public static string ProblemDetail(HttpContext context)
    {
        using var json = JsonDocument.Parse(ResponseText(context));
        return json.RootElement.GetProperty("detail").GetString()!;
    }

    private sealed class BodyDetection(bool canHaveBody) : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody { get; } = canHaveBody;
    }
}
