namespace ProxyPlatform.ControlPlane.Metrics;

/// <summary>
/// A tenant's traffic, aggregated from every worker's reports (see <see cref="TenantTraffic"/>).
/// Reports arrive every few seconds from every worker, so the state is written at most every
/// <see cref="WriteInterval"/> and on deactivation: what a crash loses in between, the workers'
/// next reports (cumulative, and complete on every new stream) bring back.
/// </summary>
public sealed class TenantMetricsGrain(
    [PersistentState("metrics", Hosting.ControlPlaneHost.MetricsStorage)] IPersistentState<TenantTrafficState> state,
    TimeProvider time, Hosting.ControlPlaneOptions options) : Grain, ITenantMetricsGrain
{
    private static readonly TimeSpan WriteInterval = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RateWindowLength = TimeSpan.FromMinutes(1);

    private readonly RateWindow _rates = new(RateWindowLength);
    private readonly TrafficHistory _history = new(TrafficHistoryLimits.Step, TrafficHistoryLimits.Kept);
    private TenantTraffic _traffic = null!;
    private bool _dirty;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _traffic = new TenantTraffic(state.State);
        // A worker's report activates the grains of all its tenants at once: a random first due
        // time spreads their writes over the interval instead of sending them all together.
        this.RegisterGrainTimer(FlushAsync, WriteInterval * (0.5 + Random.Shared.NextDouble()), WriteInterval);
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await FlushAsync(cancellationToken);
    }

    public Task Report(string worker, string instance, TrafficSample[] samples)
    {
        var now = time.GetUtcNow();
        if (_traffic.Apply(worker, instance, samples, now))
        {
            _dirty = true;
            _rates.Sample(now, _traffic.RateTotals());
        }
        _history.Sample(now, _traffic.RouteTotals);
        return Task.CompletedTask;
    }

    public Task Forget(string[] series)
    {
        var now = time.GetUtcNow();
        if (_traffic.Forget(series, now))
        {
            _dirty = true;
            _rates.Sample(now, _traffic.RateTotals());
        }
        return Task.CompletedTask;
    }

    public Task<TenantTrafficReport> Get()
    {
        // A sample now, so that rates fall to zero when the reports stop growing.
        _rates.Sample(time.GetUtcNow(), _traffic.RateTotals());
        return Task.FromResult(_traffic.Report(this.GetPrimaryKeyString(), _rates));
    }

    public Task<TrafficHistoryReport> GetHistory(TimeSpan window)
    {
        var now = time.GetUtcNow();
        // A step now if one is due, so that a route whose reports stopped shows its rates falling to zero.
        _history.Sample(now, _traffic.RouteTotals);
        return Task.FromResult(_history.Report(this.GetPrimaryKeyString(), now, window));
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_traffic.RetireWorkers(time.GetUtcNow() - options.WorkerExpiry))
            _dirty = true;
        if (!_dirty)
            return;
        _dirty = false;
        try
        {
            await state.WriteStateAsync(cancellationToken);
        }
        catch
        {
            _dirty = true;
            throw;
        }
    }
}
