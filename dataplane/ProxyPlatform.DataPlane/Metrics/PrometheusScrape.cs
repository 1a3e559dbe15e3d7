using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace ProxyPlatform.DataPlane.Metrics;

/// <summary>
/// The ops listener's <c>/metrics</c>: OpenTelemetry's Prometheus exporter over the traffic meter
/// and the runtime's. Its meter provider is built on the first scrape, not at start-up: building it
/// (and compiling the SDK) added about a fifth to the time from process start to the first proxied
/// answer, which a worker restarting from its last-known-good configuration should not pay. Every
/// instrument is observable, so nothing is missed before the first scrape.
/// </summary>
public sealed class PrometheusScrape(IServiceProvider services) : IDisposable
{
    private readonly Lazy<(MeterProvider Provider, RequestDelegate Pipeline)> _exporter = new(() =>
    {
        var provider = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(resource => resource.AddService("proxyplatform-dataplane"))
            .AddMeter(TrafficMeter.MeterName)
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter()
            .Build();
        var pipeline = new ApplicationBuilder(services);
        pipeline.UseOpenTelemetryPrometheusScrapingEndpoint(provider, predicate: _ => true, path: null, configureBranchedPipeline: null, optionsName: null);
        return (provider, pipeline.Build());
    });

    public Task InvokeAsync(HttpContext context) => _exporter.Value.Pipeline(context);

    public void Dispose()
    {
        if (_exporter.IsValueCreated)
            _exporter.Value.Provider.Dispose();
    }
}
