using ProxyPlatform.DataPlane.ConfigStream;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.Metrics;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Metrics;

/// <summary>
/// Sends the worker's traffic counters on the configuration stream every
/// <c>DataPlane:MetricsIntervalSeconds</c>: the series that changed since the last report on this
/// stream, and on a new stream every series with traffic, because a new stream may reach another
/// control-plane node. Values are cumulative for this worker instance, so the control plane can take
/// the largest value it has seen of each series: a lost report is made good by the next, and a
/// repeated one changes nothing. A retired series (its route or backend was removed) is reported with
/// its final values once and then dropped.
/// </summary>
public sealed class MetricsReporter(TrafficRegistry registry, DataPlaneOptions options, TimeProvider time) : IStreamReporter
{
    /// <summary>The most series in one message, keeping a report of a large configuration well under gRPC's 4 MB message limit.</summary>
    private const int MaxSeriesPerReport = 2000;
    private static readonly double[] Bounds = [.. LatencyBuckets.BoundsMs];
    private long _sequence;

    public async Task RunAsync(Func<WorkerMessage, CancellationToken, Task> send, CancellationToken streamClosed)
    {
        // What this stream has been told of each series: its request count when last reported.
        var reported = new Dictionary<TrafficSeries, long>(ReferenceEqualityComparer.Instance);
        using var timer = new PeriodicTimer(options.MetricsInterval, time);
        while (await timer.WaitForNextTickAsync(streamClosed))
        {
            var changed = new List<(TrafficSeries Series, TrafficReading Reading, bool Retired)>();
            var silent = new List<TrafficSeries>();
            foreach (var series in registry.All())
            {
                // Read retirement once, first: a series retired after this point is reported and kept as
                // live now, and read in full, marked removed, next time. Reading it again later would
                // drop a series retired during the send without ever reporting it removed.
                var retired = series.Retired;
                var requests = series.Counters.Requests;
                if (requests == 0)
                {
                    if (retired)
                        silent.Add(series);
                    continue;
                }
                if (!retired && reported.TryGetValue(series, out var last) && last == requests)
                    continue;
                changed.Add((series, series.Counters.Read(), retired));
            }
            foreach (var series in silent)
                registry.Drop(series);

            for (var offset = 0; offset < changed.Count; offset += MaxSeriesPerReport)
            {
                var report = new MetricsReport
                {
                    Sequence = (ulong)Interlocked.Increment(ref _sequence),
                    ReadAtUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds(),
                };
                report.LatencyBoundsMs.Add(Bounds);
                foreach (var (series, reading, retired) in changed.Skip(offset).Take(MaxSeriesPerReport))
                    report.Series.Add(ToProto(series, reading, retired));
                await send(new WorkerMessage { Metrics = report }, streamClosed);
            }
            foreach (var (series, reading, retired) in changed)
            {
                if (retired)
                {
                    registry.Drop(series);
                    reported.Remove(series);
                }
                else
                {
                    reported[series] = reading.Requests;
                }
            }
        }
    }

    private static TrafficSample ToProto(TrafficSeries series, TrafficReading reading, bool retired)
    {
        var sample = new TrafficSample
        {
            Kind = series.Kind,
            Tenant = series.Tenant,
            Route = series.Route,
            Cluster = series.Cluster,
            Backend = series.Backend ?? "",
            Epoch = series.Epoch,
            BytesIn = (ulong)reading.BytesIn,
            BytesOut = (ulong)reading.BytesOut,
            LatencySumUs = (ulong)reading.LatencySumUs,
            Removed = retired,
        };
        foreach (var count in reading.RequestsByClass)
            sample.RequestsByClass.Add((ulong)count);
        foreach (var count in reading.LatencyBuckets)
            sample.LatencyBuckets.Add((ulong)count);
        return sample;
    }
}
