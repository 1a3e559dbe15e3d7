using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxyPlatform.DataPlane.ConfigStream;
using ProxyPlatform.DataPlane.Pipeline;
using OpenTelemetry.Trace;
using ProxyPlatform.Observability;

namespace ProxyPlatform.DataPlane.Metrics;

public static class MetricsServices
{
    /// <summary>
    /// Traffic counters and their reporter on the configuration stream, the OpenTelemetry meter behind
    /// the ops listener's <c>/metrics</c>, and traces of the request path when an OTLP endpoint is set.
    /// </summary>
    public static WebApplicationBuilder AddTrafficMetrics(this WebApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton<TrafficRegistry>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<IStreamReporter, MetricsReporter>();
        builder.Services.AddSingleton<TrafficMeter>();
        // The request path records into its own counters; the ASP.NET Core and HttpClient meters
        // would add a histogram update with a tag lookup to every request, so they are not enabled.
        // The scrape endpoint builds its own meter provider on first use (see PrometheusScrape).
        builder.Services.AddSingleton<PrometheusScrape>();
        builder.AddTelemetry("proxyplatform-dataplane",
            metrics: null,
            traces: traces => traces.AddSource(ProxyHandler.Activities.Name).AddAspNetCoreInstrumentation().AddHttpClientInstrumentation());
        return builder;
    }
}
