using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace ProxyPlatform.Observability;

/// <summary>
/// OpenTelemetry for both processes: metrics for the Prometheus scrape endpoint (when the process
/// asks for them here), and traces only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> names a collector,
/// so that without one no activity listener exists and the request path starts no activities of its own.
/// </summary>
public static class Telemetry
{
    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static bool TracingEnabled(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration[OtlpEndpointKey]);

    /// <param name="metrics">The meters to export (with the runtime's) for the Prometheus endpoint; null when the process builds its own.</param>
    public static WebApplicationBuilder AddTelemetry(this WebApplicationBuilder builder, string serviceName,
        Action<MeterProviderBuilder>? metrics, Action<TracerProviderBuilder> traces)
    {
        var tracing = TracingEnabled(builder.Configuration);
        if (metrics is null && !tracing)
            return builder;
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName));
        if (metrics is not null)
        {
            otel.WithMetrics(meter =>
            {
                meter.AddRuntimeInstrumentation();
                metrics(meter);
                meter.AddPrometheusExporter();
            });
        }
        if (tracing)
        {
            otel.WithTracing(tracer =>
            {
                traces(tracer);
                tracer.AddOtlpExporter();
            });
        }
        return builder;
    }
}
