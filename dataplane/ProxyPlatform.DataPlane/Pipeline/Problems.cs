using System.Text.Json.Nodes;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// The worker's own answers: RFC 9457 problem details with a stable <c>type</c> under
/// <see cref="BaseUri"/> and the request ID, so a client can tell the proxy's errors from its backend's.
/// </summary>
public static class Problems
{
    public const string BaseUri = "https://proxyplatform.dev/problems/";
    public const string ContentType = "application/problem+json";

    public static Task WriteAsync(HttpContext context, int status, string type, string title, string detail,
        Routing.CompiledRoute? route = null, Clusters.ClusterRuntime? cluster = null)
    {
        var body = new JsonObject
        {
            ["type"] = BaseUri + type,
            ["title"] = title,
            ["status"] = status,
            ["detail"] = detail,
            ["requestId"] = context.TraceIdentifier,
        };
        if (route is not null)
            body["route"] = route.Name;
        if ((cluster?.Name ?? (route is null ? null : route.Cluster.Id.ToString())) is { } clusterName)
            body["cluster"] = clusterName;
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = ContentType;
        response.Headers.CacheControl = "no-store";
        // Not tied to RequestAborted: a route's time-out cancels that token, and the client still waits for this answer.
        return response.WriteAsync(body.ToJsonString());
    }
}
