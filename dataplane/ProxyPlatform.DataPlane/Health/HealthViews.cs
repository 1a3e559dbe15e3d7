using ProxyPlatform.Resources;
using System.Collections.Concurrent;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Health;

/// <summary>
/// This worker's current probe views, by cluster, and the clusters whose view changed since the
/// reporter last looked: what <see cref="HealthReporter"/> sends.
/// </summary>
public sealed class HealthViews(ConfigApplier applier)
{
    /// <summary>Live requests failed in a row before a backend counts as an outlier.</summary>
    private const int OutlierFailures = 3;

    private readonly ConcurrentDictionary<ResourceKey, ConcurrentDictionary<string, BackendProbe>> _probes = new();
    private readonly Lock _gate = new();
    private HashSet<ResourceKey> _changed = [];
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Add(BackendProbe probe) =>
        _probes.GetOrAdd(probe.Cluster, _ => new ConcurrentDictionary<string, BackendProbe>(StringComparer.Ordinal))[probe.Backend] = probe;

    public void Remove(BackendProbe probe)
    {
        if (_probes.TryGetValue(probe.Cluster, out var backends) && backends.TryGetValue(probe.Backend, out var current) && ReferenceEquals(current, probe))
        {
            backends.TryRemove(probe.Backend, out _);
            Changed(probe.Cluster);
        }
    }

    /// <summary>Forgets clusters that are no longer in the configuration, or no longer probed.</summary>
    public void Clusters(IEnumerable<ResourceKey> configured)
    {
        var keep = new HashSet<ResourceKey>(configured);
        foreach (var (id, backends) in _probes)
        {
            if (!keep.Contains(id) || backends.IsEmpty)
                _probes.TryRemove(id, out _);
        }
    }

    public void Changed(ResourceKey cluster)
    {
        lock (_gate)
        {
            _changed.Add(cluster);
            _signal.TrySetResult();
        }
    }

    /// <summary>Completes when some view changed since the last <see cref="TakeChanged"/>.</summary>
    public Task WhenChanged()
    {
        lock (_gate)
            return _changed.Count > 0 ? Task.CompletedTask : _signal.Task;
    }

    public HashSet<ResourceKey> TakeChanged()
    {
        lock (_gate)
        {
            var changed = _changed;
            _changed = [];
            _signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return changed;
        }
    }

    /// <summary>A report of <paramref name="clusters"/> (every probed cluster when null).</summary>
    public HealthReport Report(IReadOnlyCollection<ResourceKey>? clusters)
    {
        var report = new HealthReport { Full = clusters is null };
        var runtime = applier.Runtime;
        foreach (var id in clusters ?? [.. _probes.Keys])
        {
            var view = new ClusterHealthView { Tenant = id.Tenant, Cluster = id.Id };
            if (_probes.TryGetValue(id, out var backends))
            {
                var traffic = runtime?.Clusters.GetValueOrDefault(id);
                foreach (var probe in backends.Values.OrderBy(p => p.Backend, StringComparer.Ordinal))
                {
                    var backend = probe.View();
                    var state = traffic?.Enabled.FirstOrDefault(b => b.Id == probe.Backend)?.State;
                    if (state is not null && state.IsOpen)
                        (backend.Outlier, backend.OutlierReason) = (true, $"circuit {state.Circuit}");
                    else if (state is not null && state.ConsecutiveFailures >= OutlierFailures)
                        (backend.Outlier, backend.OutlierReason) = (true, $"{state.ConsecutiveFailures} consecutive failures");
                    view.Backends.Add(backend);
                }
            }
            // A cluster without probes any more is reported empty: the control plane drops this worker's view of it.
            report.Clusters.Add(view);
        }
        return report;
    }
}
