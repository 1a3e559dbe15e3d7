using ProxyPlatform.ControlPlane.Metrics;

namespace ProxyPlatform.ControlPlane.Ops;

/// <summary>
/// The control plane's ops listener (<c>Ops:Url</c>): liveness, readiness and the Prometheus scrape
/// endpoint. It asks for no credentials and shows no tenant's configuration; keep it on loopback or a
/// private network (in Kubernetes: the pod address, for probes, and no Service).
/// </summary>
public static class OpsEndpoints
{
    public static RouteGroupBuilder MapControlPlaneOps(this IEndpointRouteBuilder app)
    {
        var endpoints = app.MapGroup("").AllowAnonymous();
        // Alive as long as the process answers.
        endpoints.MapGet("/healthz", () => Results.Json(new { status = "alive" }));

        // Ready once this node is an active member of the cluster: it can serve admin calls and streams.
        endpoints.MapGet("/readyz", (ISiloStatusOracle silo) => silo.CurrentStatus == SiloStatus.Active
            ? Results.Json(new { status = "ready" })
            : Results.Json(new { status = "not-ready", detail = $"The silo is {silo.CurrentStatus}." }, statusCode: StatusCodes.Status503ServiceUnavailable));

        // This node's metrics and its workers' traffic counters, as Prometheus text.
        app.ServiceProvider.GetRequiredService<ReceivedTraffic>();
        endpoints.MapPrometheusScrapingEndpoint("/metrics");
        return endpoints;
    }
}
