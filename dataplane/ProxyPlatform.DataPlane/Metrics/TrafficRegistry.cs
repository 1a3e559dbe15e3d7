using ProxyPlatform.Resources;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Metrics;

/// <summary>
/// Every traffic series of this worker instance, by route and by backend. Consulted only when a
/// configuration is compiled (to hang each route's and backend's series on it) and when counters are
/// reported or scraped; requests never see it. A route or backend that is compiled again keeps its
/// series, so its counts stay cumulative; one that is removed is retired, reported once more with
/// its final values, and then dropped. A retired series leaves the worker's own scrape at once
/// (<see cref="Live"/>), and at most <see cref="MaxRetired"/> wait for a report: a worker cut off
/// from the control plane while its configuration churns drops the oldest final values beyond that.
/// </summary>
public sealed class TrafficRegistry
{
    /// <summary>The most retired series held for their final report.</summary>
    public const int MaxRetired = 4096;

    private readonly Lock _gate = new();
    private readonly Queue<TrafficSeries> _retired = new();
    private readonly Dictionary<(SeriesKind Kind, string Tenant, string Name, string Backend), TrafficSeries> _series = [];
    private ulong _epochs;

    public TrafficSeries Route(ResourceKey route, ResourceKey cluster)
    {
        var series = GetOrAdd(SeriesKind.Route, route.Tenant, route.Id, null);
        series.Cluster = cluster.Id;
        return series;
    }

    public TrafficSeries Backend(ResourceKey cluster, string backend) => GetOrAdd(SeriesKind.Backend, cluster.Tenant, cluster.Id, backend);

    public void RetireRoute(ResourceKey route) => Retire((SeriesKind.Route, route.Tenant, route.Id, ""));

    public void RetireBackend(ResourceKey cluster, string backend) => Retire((SeriesKind.Backend, cluster.Tenant, cluster.Id, backend));

    /// <summary>The series of the routes and backends configured now (what the worker's own scrape shows).</summary>
    public IReadOnlyList<TrafficSeries> Live()
    {
        lock (_gate)
            return [.. _series.Values.Where(s => !s.Retired)];
    }

    /// <summary>Every series as of now, retired ones included (their final values are still to be reported).</summary>
    public IReadOnlyList<TrafficSeries> All()
    {
        lock (_gate)
            return [.. _series.Values];
    }

    /// <summary>Forgets a retired series once its final values are reported (unless it came back meanwhile).</summary>
    public void Drop(TrafficSeries series)
    {
        lock (_gate)
        {
            var key = (series.Kind, series.Tenant, series.Name, series.Backend ?? "");
            if (series.Retired && _series.TryGetValue(key, out var held) && ReferenceEquals(held, series))
                _series.Remove(key);
        }
    }

    private TrafficSeries GetOrAdd(SeriesKind kind, string tenant, string name, string? backend)
    {
        lock (_gate)
        {
            var key = (kind, tenant, name, backend ?? "");
            if (_series.TryGetValue(key, out var series))
            {
                series.Retired = false;
                return series;
            }
            series = new TrafficSeries(kind, tenant, name, backend, ++_epochs);
            _series[key] = series;
            return series;
        }
    }

    private void Retire((SeriesKind, string, string, string) key)
    {
        lock (_gate)
        {
            if (!_series.TryGetValue(key, out var series) || series.Retired)
                return;
            series.Retired = true;
            _retired.Enqueue(series);
            // Entries of series dropped or revived since stay in the queue until they reach its head.
            while (_retired.Count > MaxRetired)
            {
                var oldest = _retired.Dequeue();
                var oldestKey = (oldest.Kind, oldest.Tenant, oldest.Name, oldest.Backend ?? "");
                if (oldest.Retired && _series.TryGetValue(oldestKey, out var held) && ReferenceEquals(held, oldest))
                    _series.Remove(oldestKey);
            }
        }
    }
}
