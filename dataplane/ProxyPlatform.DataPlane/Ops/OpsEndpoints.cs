using ProxyPlatform.DataPlane.ConfigStream;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Metrics;

namespace ProxyPlatform.DataPlane.Ops;

/// <summary>The ops listener: liveness, readiness, the configuration stream's counters and the Prometheus scrape endpoint.</summary>
public static class OpsEndpoints
{
    public static IEndpointRouteBuilder MapOpsEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var ops = endpoints.MapGroup("");

        // Alive as long as the process answers.
        ops.MapGet("/healthz", () => Results.Json(new { status = "alive" }));

        // Ready once a configuration is served, from the control plane or from last-known-good, until told to drain.
        ops.MapGet("/readyz", (ConfigApplier applier, WorkerDrain drain) =>
            drain.State != Protos.DataPlane.DrainState.None
                ? Results.Json(new { status = "draining", detail = "This worker is leaving: it finishes what it has and takes no new load." }, statusCode: StatusCodes.Status503ServiceUnavailable)
            : applier.Current is { } snapshot
                ? Results.Json(new { status = "ready", revision = snapshot.Revision })
                : Results.Json(new { status = "not-ready", detail = "No configuration has been applied yet." }, statusCode: StatusCodes.Status503ServiceUnavailable));

        ops.MapGet("/config-stats", (ConfigApplier applier, LastKnownGoodSaver saver, ConfigStreamStats stats) => Results.Json(new
        {
            appliedRevision = applier.AppliedRevision,
            hasConfiguration = applier.Current is not null,
            savedRevision = saver.SavedRevision,
            failedSaves = saver.FailedSaves,
            updatesReceived = stats.ConfigUpdatesReceived,
            bytesReceived = stats.ConfigBytesReceived,
            lastUpdateBytes = stats.LastUpdateBytes,
            nacksSent = stats.NacksSent,
            routeTableRebuilds = stats.RouteTableRebuilds,
            connected = stats.Connected,
            controlPlaneUrl = stats.ControlPlaneUrl,
            lastUpdate = stats.LastUpdate,
            lastNack = stats.LastNack,
        }));

        // Prometheus text: the traffic counters (proxyplatform_requests_total…) and the runtime's.
        ops.MapGet("/metrics", (HttpContext context, PrometheusScrape scrape) => scrape.InvokeAsync(context));
        return endpoints;
    }
}
