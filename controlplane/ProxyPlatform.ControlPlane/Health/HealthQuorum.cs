using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane.Health;

/// <summary>A verdict a <see cref="HealthQuorum"/> reached, with the counts of views behind it.</summary>
public sealed record VerdictDecision(string Backend, string Verdict, int Failing, int Passing, int Reporting);

/// <summary>
/// The quorum rule over the workers' latest views of one cluster's backends. Only views reported
/// within the <c>window</c> count, and only passing or failing ones: a worker that stopped
/// reporting, or disconnected, or has not probed enough yet, is not among the reporting workers.
/// A backend becomes Unhealthy when more than half of the reporting workers see it failing,
/// Healthy when more than half see it passing, and otherwise keeps its verdict (Unknown before
/// the first), so one partitioned worker cannot eject a backend for everyone.
/// </summary>
public sealed class HealthQuorum(TimeSpan window)
{
    private readonly Dictionary<string, WorkerViews> _workers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Verdict, DateTimeOffset Since)> _verdicts = new(StringComparer.Ordinal);

    public TimeSpan Window { get; } = window;

    /// <summary>The verdicts held now (Healthy or Unhealthy), by backend.</summary>
    public IReadOnlyDictionary<string, (string Verdict, DateTimeOffset Since)> Verdicts => _verdicts;

    public string VerdictOf(string backend) => _verdicts.TryGetValue(backend, out var v) ? v.Verdict : HealthVerdicts.Unknown;

    /// <summary>Restores a verdict reached earlier (from storage, when the grain activates).</summary>
    public void Restore(string backend, string verdict, DateTimeOffset since)
    {
        if (verdict is HealthVerdicts.Healthy or HealthVerdicts.Unhealthy)
            _verdicts[backend] = (verdict, since);
    }

    /// <summary>Replaces <paramref name="worker"/>'s view of the cluster with the one it just reported.</summary>
    public void Record(string worker, string instance, DateTimeOffset at, IReadOnlyList<BackendObservation> backends)
    {
        var views = new Dictionary<string, BackendObservation>(StringComparer.Ordinal);
        foreach (var backend in backends)
            views[backend.Backend] = backend;
        _workers[worker] = new WorkerViews(instance, at, views);
    }

    /// <summary>
    /// Drops the worker's views, if they came from <paramref name="instance"/> (a worker that already
    /// reported again from a new process is not dropped by its old stream's end). True when it dropped any.
    /// </summary>
    public bool Forget(string worker, string instance) =>
        _workers.TryGetValue(worker, out var views) && views.Instance == instance && _workers.Remove(worker);

    /// <summary>
    /// Forgets a backend that left the cluster: its verdict and every worker's view of it. True when a
    /// verdict was held (the committed verdicts then need writing again without it).
    /// </summary>
    public bool ForgetBackend(string backend)
    {
        foreach (var views in _workers.Values)
            views.Backends.Remove(backend);
        return _verdicts.Remove(backend);
    }

    /// <summary>The verdicts the current views call for that differ from the ones held; nothing changes until <see cref="Accept"/>.</summary>
    public List<VerdictDecision> Decide(DateTimeOffset now)
    {
        Expire(now);
        var backends = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var views in _workers.Values)
            backends.UnionWith(views.Backends.Keys);
        var decisions = new List<VerdictDecision>();
        foreach (var backend in backends)
        {
            var (failing, passing) = Count(backend);
            var reporting = failing + passing;
            var verdict = failing * 2 > reporting ? HealthVerdicts.Unhealthy
                : passing * 2 > reporting ? HealthVerdicts.Healthy
                : VerdictOf(backend);
            if (verdict != VerdictOf(backend))
                decisions.Add(new VerdictDecision(backend, verdict, failing, passing, reporting));
        }
        return decisions;
    }

    /// <summary>Holds the decided verdicts from <paramref name="at"/> (once they are committed).</summary>
    public void Accept(IEnumerable<VerdictDecision> decisions, DateTimeOffset at)
    {
        foreach (var decision in decisions)
            _verdicts[decision.Backend] = (decision.Verdict, at);
    }

    /// <summary>Every view of <paramref name="backend"/> that counts now, by worker.</summary>
    public List<WorkerBackendView> ViewsOf(string backend)
    {
        var views = new List<WorkerBackendView>();
        foreach (var (worker, reported) in _workers.OrderBy(w => w.Key, StringComparer.Ordinal))
        {
            if (reported.Backends.TryGetValue(backend, out var observation))
                views.Add(new WorkerBackendView(worker, observation, reported.At));
        }
        return views;
    }

    /// <summary>Every backend anything is known of: a verdict or a current view.</summary>
    public SortedSet<string> Backends()
    {
        var backends = new SortedSet<string>(_verdicts.Keys, StringComparer.Ordinal);
        foreach (var views in _workers.Values)
            backends.UnionWith(views.Backends.Keys);
        return backends;
    }

    private void Expire(DateTimeOffset now)
    {
        foreach (var (worker, views) in _workers.ToList())
        {
            if (now - views.At > Window)
                _workers.Remove(worker);
        }
    }

    private (int Failing, int Passing) Count(string backend)
    {
        int failing = 0, passing = 0;
        foreach (var views in _workers.Values)
        {
            if (!views.Backends.TryGetValue(backend, out var observation))
                continue;
            if (observation.View == ProbeView.Failing)
                failing++;
            else if (observation.View == ProbeView.Passing)
                passing++;
        }
        return (failing, passing);
    }

    private sealed record WorkerViews(string Instance, DateTimeOffset At, Dictionary<string, BackendObservation> Backends);
}
