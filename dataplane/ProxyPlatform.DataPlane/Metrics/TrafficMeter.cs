using System.Diagnostics.Metrics;
using ProxyPlatform.Metrics;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Metrics;

/// <summary>
/// The worker's traffic counters as OpenTelemetry instruments, for the Prometheus scrape endpoint
/// on the ops listener. They are observable: a scrape reads <see cref="TrafficRegistry"/>, and requests
/// update only their own counters. The latency histogram is exposed as Prometheus-style cumulative
/// buckets (<c>le</c> in seconds) because its buckets are counted on the request path, not recorded
/// through a .NET histogram.
/// </summary>
public sealed class TrafficMeter : IDisposable
{
    public const string MeterName = "ProxyPlatform.DataPlane";

    private static readonly string[] UpperBounds =
        [.. LatencyBuckets.BoundsMs.Select(ms => (ms / 1000).ToString("0.####", System.Globalization.CultureInfo.InvariantCulture)), "+Inf"];

    private readonly Meter _meter;

    public TrafficMeter(IMeterFactory meters, TrafficRegistry registry)
    {
        _meter = meters.Create(MeterName);
        _meter.CreateObservableCounter("proxyplatform.requests", () => Requests(registry, SeriesKind.Route),
            description: "Requests of each route, by the status class the client got.");
        _meter.CreateObservableCounter("proxyplatform.backend.requests", () => Requests(registry, SeriesKind.Backend),
            description: "Attempts sent to each backend, by the status class of their outcome.");
        _meter.CreateObservableCounter("proxyplatform.bytes.in", () => Bytes(registry, incoming: true),
            description: "Request body bytes of each route (as declared by Content-Length).");
        _meter.CreateObservableCounter("proxyplatform.bytes.out", () => Bytes(registry, incoming: false),
            description: "Response body bytes of each route (as declared by Content-Length).");
        _meter.CreateObservableCounter("proxyplatform.request.duration.bucket", () => Buckets(registry),
            description: "Requests of each route that took at most le seconds (cumulative histogram buckets).");
        _meter.CreateObservableCounter("proxyplatform.request.duration.sum", () => Sums(registry),
            description: "Total time of the requests of each route, in seconds.");
    }

    public void Dispose() => _meter.Dispose();

    private static IEnumerable<Measurement<long>> Requests(TrafficRegistry registry, SeriesKind kind)
    {
        foreach (var series in registry.Live())
        {
            if (series.Kind != kind)
                continue;
            var reading = series.Counters.Read();
            for (var i = 0; i < reading.RequestsByClass.Length; i++)
            {
                if (reading.RequestsByClass[i] == 0)
                    continue;
                yield return kind == SeriesKind.Route
                    ? new(reading.RequestsByClass[i], new("tenant", series.Tenant), new("route", series.Route), new("status_class", LatencyBuckets.StatusClassNames[i]))
                    : new(reading.RequestsByClass[i], new("tenant", series.Tenant), new("cluster", series.Cluster), new("backend", series.Backend), new("status_class", LatencyBuckets.StatusClassNames[i]));
            }
        }
    }

    private static IEnumerable<Measurement<long>> Bytes(TrafficRegistry registry, bool incoming)
    {
        foreach (var series in registry.Live())
        {
            if (series.Kind == SeriesKind.Route)
            {
                var reading = series.Counters.Read();
                yield return new(incoming ? reading.BytesIn : reading.BytesOut, new("tenant", series.Tenant), new("route", series.Route));
            }
        }
    }

    private static IEnumerable<Measurement<long>> Buckets(TrafficRegistry registry)
    {
        foreach (var series in registry.Live())
        {
            if (series.Kind != SeriesKind.Route)
                continue;
            var buckets = series.Counters.Read().LatencyBuckets;
            long cumulative = 0;
            for (var i = 0; i < buckets.Length; i++)
            {
                cumulative += buckets[i];
                yield return new(cumulative, new("tenant", series.Tenant), new("route", series.Route), new("le", UpperBounds[i]));
            }
        }
    }

    private static IEnumerable<Measurement<double>> Sums(TrafficRegistry registry)
    {
        foreach (var series in registry.Live())
        {
            if (series.Kind == SeriesKind.Route)
                yield return new(series.Counters.Read().LatencySumUs / 1_000_000.0, new("tenant", series.Tenant), new("route", series.Route));
        }
    }
}
