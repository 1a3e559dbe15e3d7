using ProxyPlatform.Http;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// Writes the worker's own answers as <see cref="ProblemJson"/> (the control plane's shape too),
/// naming the route and cluster once a request matched one; never a backend.
/// </summary>
public static class Problems
{
    public static Task WriteAsync(HttpContext context, int status, string type, string title, string detail,
        Routing.CompiledRoute? route = null, Clusters.ClusterRuntime? cluster = null)
    {
        var body = ProblemJson.Create(context, status, type, title, detail);
        if (route is not null)
            body["route"] = route.Name;
        if ((cluster?.Name ?? (route is null ? null : route.Cluster.Id.QualifiedId)) is { } clusterName)
            body["cluster"] = clusterName;
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = ProblemJson.ContentType;
        response.Headers.CacheControl = "no-store";
        // Not tied to RequestAborted: a route's time-out cancels that token, and the client still waits for this answer.
        return response.WriteAsync(body.ToJsonString());
    }
}
