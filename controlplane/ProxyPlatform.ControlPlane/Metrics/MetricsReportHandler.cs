using System.Diagnostics.Metrics;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Resources;
using ResourceKey = ProxyPlatform.Resources.ResourceKey;

namespace ProxyPlatform.ControlPlane.Metrics;

/// <summary>
/// Takes workers' metrics reports off the configuration stream: each tenant's series go to that
/// tenant's <see cref="ITenantMetricsGrain"/>, and this node keeps what it has received for its own
/// <c>/metrics</c> (<see cref="ReceivedTraffic"/>).
/// </summary>
public sealed class MetricsReportHandler(IGrainFactory grains, ReceivedTraffic received, ILogger<MetricsReportHandler> logger) : IWorkerReportHandler
{
    public async Task ReportAsync(WorkerIdentity worker, WorkerMessage message)
    {
        if (message.KindCase != WorkerMessage.KindOneofCase.Metrics)
            return;
        var report = message.Metrics;
        // Series of routes and backends the worker's pool never had are dropped: their labels would be
        // whatever a worker made up, and the tenants they name not necessarily in its pool.
        var series = report.Series.Where(s => OfPool(worker.Feed, s)).ToList();
        if (series.Count != report.Series.Count)
        {
            logger.LogDebug("Worker {Worker} reported {Count} series of routes or backends not in pool {Pool}; ignored", worker.WorkerId, report.Series.Count - series.Count, worker.Pool);
            report = report.Clone();
            report.Series.Clear();
            report.Series.AddRange(series);
        }
        if (received.Take(worker, report) is { } fresh)
            grains.GetGrain<IPoolTrafficGrain>(worker.Pool).Report(worker.WorkerId, worker.Instance, fresh.Requests, fresh.Seconds).Ignore();
        // The stream's reader waits for this: the tenants' grains are called together, not one after another.
        await Task.WhenAll(series
            .GroupBy(s => s.Tenant)
            .Select(tenant => RecordAsync(worker, tenant.Key, [.. tenant.Select(ToSample)])));
    }

    private async Task RecordAsync(WorkerIdentity worker, string tenant, TrafficSample[] samples)
    {
        try
        {
            await grains.GetGrain<ITenantMetricsGrain>(tenant).Report(worker.WorkerId, worker.Instance, samples);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The next report carries the same cumulative values (and more): nothing is lost by skipping this one.
            logger.LogWarning(ex, "Metrics of tenant {Tenant} from worker {Worker} could not be recorded", tenant, worker.WorkerId);
        }
    }

    private static bool OfPool(PoolFeed pool, Protos.DataPlane.TrafficSample sample)
    {
        if (!Configuration.ConfigValidator.IsValidId(sample.Tenant))
            return false;
        return sample.Kind switch
        {
            SeriesKind.Route => Configuration.ConfigValidator.IsValidId(sample.Route) && pool.Knows(ResourceKey.OfRoute(sample.Tenant, sample.Route)),
            SeriesKind.Backend => Configuration.ConfigValidator.IsValidId(sample.Cluster) && Configuration.ConfigValidator.IsValidId(sample.Backend)
                && pool.KnowsBackend(sample.Tenant, sample.Cluster, sample.Backend),
            _ => false,
        };
    }

    public Task DisconnectedAsync(WorkerIdentity worker)
    {
        received.Forget(worker);
        grains.GetGrain<IPoolTrafficGrain>(worker.Pool).Forget(worker.WorkerId, worker.Instance).Ignore();
        return Task.CompletedTask;
    }

    private static TrafficSample ToSample(Protos.DataPlane.TrafficSample sample) => new(
        sample.Kind == SeriesKind.Backend,
        sample.Route,
        sample.Cluster,
        sample.Backend,
        sample.Epoch,
        [.. sample.RequestsByClass.Select(v => (long)v)],
        (long)sample.BytesIn,
        (long)sample.BytesOut,
        [.. sample.LatencyBuckets.Select(v => (long)v)],
        (long)sample.LatencySumUs,
        sample.Removed);
}

/// <summary>
/// The traffic counters as this node has received them from the workers streaming to it, for the
/// control plane's <c>/metrics</c>: per worker, the latest cumulative request counts of each series.
/// A worker's series leave when its stream to this node ends (it reports them to its next node).
/// </summary>
public sealed class ReceivedTraffic : IDisposable
{
    public const string MeterName = "ProxyPlatform.ControlPlane";

    private readonly Lock _gate = new();
    private readonly Dictionary<(string Worker, string Instance), Dictionary<(SeriesKind, string Tenant, string Name, string Backend, ulong Epoch), long[]>> _workers = [];
    // When each worker last read the counters it reported (Unix ms): the interval of its next report.
    private readonly Dictionary<(string Worker, string Instance), long> _readAt = [];
    private readonly Meter _meter;
    private readonly Counter<long> _reports;

    public ReceivedTraffic(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _reports = _meter.CreateCounter<long>("proxyplatform.metrics.reports", description: "Metrics reports received from workers.");
        _meter.CreateObservableCounter("proxyplatform.requests", () => Requests(SeriesKind.Route),
            description: "Requests of each route by status class, as reported to this node by its workers.");
        _meter.CreateObservableCounter("proxyplatform.backend.requests", () => Requests(SeriesKind.Backend),
            description: "Attempts sent to each backend by status class, as reported to this node by its workers.");
        _meter.CreateObservableUpDownCounter("proxyplatform.workers.reporting", () => { lock (_gate) return _workers.Count; },
            description: "Worker streams on this node that have reported metrics.");
    }

    /// <summary>
    /// Takes a worker's report in. Returns the requests its routes served since its previous report to
    /// this node and the seconds between the two (the worker's clock), for the pool's request rate; null
    /// for the first report of a stream, whose cumulative counts include what came before it.
    /// </summary>
    public (long Requests, double Seconds)? Take(WorkerIdentity worker, MetricsReport report)
    {
        _reports.Add(1);
        lock (_gate)
        {
            var id = (worker.WorkerId, worker.Instance);
            if (!_workers.TryGetValue(id, out var series))
                _workers[id] = series = [];
            var newRequests = 0L;
            foreach (var sample in report.Series)
            {
                var key = (sample.Kind, sample.Tenant, sample.Kind == SeriesKind.Backend ? sample.Cluster : sample.Route, sample.Backend, sample.Epoch);
                var latest = series.GetValueOrDefault(key) ?? new long[5];
                for (var i = 0; i < Math.Min(latest.Length, sample.RequestsByClass.Count); i++)
                {
                    var value = (long)Math.Min(sample.RequestsByClass[i], long.MaxValue);
                    if (sample.Kind == SeriesKind.Route)
                        newRequests += Math.Max(0, value - latest[i]);
                    latest[i] = Math.Max(latest[i], value);
                }
                // A removed route's or backend's final report: its series leaves this node's /metrics.
                if (sample.Removed)
                    series.Remove(key);
                else
                    series[key] = latest;
            }
            var previous = _readAt.GetValueOrDefault(id);
            _readAt[id] = Math.Max(previous, report.ReadAtUnixMs);
            return previous > 0 && report.ReadAtUnixMs > previous ? (newRequests, (report.ReadAtUnixMs - previous) / 1000.0) : null;
        }
    }

    public void Forget(WorkerIdentity worker)
    {
        lock (_gate)
        {
            _workers.Remove((worker.WorkerId, worker.Instance));
            _readAt.Remove((worker.WorkerId, worker.Instance));
        }
    }

    public void Dispose() => _meter.Dispose();

    private List<Measurement<long>> Requests(SeriesKind kind)
    {
        var sums = new Dictionary<(string Worker, string Tenant, string Name, string Backend, int Class), long>();
        lock (_gate)
        {
            foreach (var ((worker, _), series) in _workers)
            {
                foreach (var ((seriesKind, tenant, name, backend, _), counts) in series)
                {
                    if (seriesKind != kind)
                        continue;
                    for (var i = 0; i < counts.Length; i++)
                    {
                        if (counts[i] > 0)
                            sums[(worker, tenant, name, backend, i)] = sums.GetValueOrDefault((worker, tenant, name, backend, i)) + counts[i];
                    }
                }
            }
        }
        return [.. sums.Select(s => kind == SeriesKind.Route
            ? new Measurement<long>(s.Value, new("worker", s.Key.Worker), new("tenant", s.Key.Tenant), new("route", s.Key.Name), new("status_class", ProxyPlatform.Metrics.LatencyBuckets.StatusClassNames[s.Key.Class]))
            : new Measurement<long>(s.Value, new("worker", s.Key.Worker), new("tenant", s.Key.Tenant), new("cluster", s.Key.Name), new("backend", s.Key.Backend), new("status_class", ProxyPlatform.Metrics.LatencyBuckets.StatusClassNames[s.Key.Class])))];
    }
}
