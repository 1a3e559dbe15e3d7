using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.Observability;

namespace ProxyPlatform.ControlPlane.Metrics;

public static class MetricsServices
{
    /// <summary>
    /// Workers' metrics reports (to the tenants' metrics grains and this node's <c>/metrics</c>), and
    /// OpenTelemetry: ASP.NET Core, runtime and traffic metrics for the Prometheus scrape endpoint,
    /// traces when an OTLP endpoint is set.
    /// </summary>
    public static WebApplicationBuilder AddTrafficMetrics(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ReceivedTraffic>();
        builder.Services.AddSingleton<IWorkerReportHandler, MetricsReportHandler>();
        builder.AddTelemetry("proxyplatform-controlplane",
            metrics => metrics.AddMeter(ReceivedTraffic.MeterName, ConfigTombstones.MeterName, DataPlanes.ConvergenceMetrics.MeterName).AddAspNetCoreInstrumentation(),
            traces => traces.AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().AddSource("Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"));
        return builder;
    }
}
