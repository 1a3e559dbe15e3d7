using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Health;

/// <summary>
/// The verdicts on one cluster's backends (see <see cref="IHealthVerdictGrain"/>). Worker views live
/// in memory only: they are refreshed every few seconds by every worker, and a fresh activation
/// gathers them again within one refresh. The verdicts are configuration: every change is committed
/// to the tenant's pool as the cluster's <see cref="ResourceKind.BackendHealth"/> resource (so workers
/// receive it like any other change), which is what an activation restores them from; each change
/// is then also recorded in <c>health_verdicts</c>, the backends' health history.
/// </summary>
public sealed class HealthVerdictGrain(HealthStore history, ConfigStore store, ConfigCommits commits, TimeProvider time, ILogger<HealthVerdictGrain> logger)
    : Grain, IHealthVerdictGrain
{
    /// <summary>How long a worker's view counts without being reported again; workers refresh every 2 s at most.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ExpiryPeriod = TimeSpan.FromSeconds(2);

    private HealthQuorum _quorum = new(Window);

    private (string Tenant, string Cluster) Id => GrainKeys.Split(this.GetPrimaryKeyString());
    private ResourceKey Key => ResourceKey.HealthOf(Id.Tenant, Id.Cluster);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (await store.GetLatestAsync(Key, cancellationToken) is { Json: { } json })
        {
            foreach (var (backend, verdict) in ConfigJson.Read<ClusterHealthSpec>(json).Backends)
                _quorum.Restore(backend, verdict.Verdict, verdict.Since);
        }
        // Views of workers that stop reporting expire even when no other report arrives to notice.
        this.RegisterGrainTimer(_ => DecideAsync(), ExpiryPeriod, ExpiryPeriod);
    }

    public Task Report(string worker, string instance, BackendObservation[] backends)
    {
        _quorum.Record(worker, instance, time.GetUtcNow(), backends);
        return DecideAsync();
    }

    public Task WorkerGone(string worker, string instance) =>
        _quorum.Forget(worker, instance) ? DecideAsync() : Task.CompletedTask;

    public Task<IReadOnlyList<BackendHealthStatus>> GetStatus()
    {
        _quorum.Decide(time.GetUtcNow());
        var statuses = _quorum.Backends().Select(backend => new BackendHealthStatus(
            backend,
            _quorum.VerdictOf(backend),
            _quorum.Verdicts.TryGetValue(backend, out var v) ? v.Since : null,
            _quorum.ViewsOf(backend))).ToList();
        return Task.FromResult<IReadOnlyList<BackendHealthStatus>>(statuses);
    }

    public async Task Reset()
    {
        _quorum = new HealthQuorum(Window);
        await history.ForgetAsync(Id.Tenant, Id.Cluster);
    }

    public async Task ForgetBackends(string[] backends)
    {
        var held = false;
        foreach (var backend in backends)
            held |= _quorum.ForgetBackend(backend);
        if (held)
        {
            // The committed verdicts still name them: write them again without.
            var spec = new ClusterHealthSpec
            {
                Backends = new SortedDictionary<string, BackendVerdictSpec>(
                    _quorum.Verdicts.ToDictionary(v => v.Key, v => new BackendVerdictSpec { Verdict = v.Value.Verdict, Since = v.Value.Since }, StringComparer.Ordinal),
                    StringComparer.Ordinal),
            };
            try
            {
                await commits.CommitAsync(new ConfigEntry(Key, 0, ConfigJson.Write(spec)));
            }
            catch (Exception ex)
            {
                // Workers ignore verdicts on backends their cluster does not have; the next verdict change rewrites them.
                logger.LogWarning(ex, "Dropping the verdicts of removed backends of cluster {Tenant}/{Cluster} failed", Id.Tenant, Id.Cluster);
            }
        }
        await history.ForgetBackendsAsync(Id.Tenant, Id.Cluster, backends);
    }

    /// <summary>
    /// Commits the verdicts the current views call for. Nothing is held until the commit succeeded,
    /// so a failed commit is tried again on the next report or expiry tick.
    /// </summary>
    private async Task DecideAsync()
    {
        var now = time.GetUtcNow();
        var decisions = _quorum.Decide(now);
        if (decisions.Count == 0)
            return;
        var verdicts = _quorum.Verdicts.ToDictionary(v => v.Key, v => new BackendVerdictSpec { Verdict = v.Value.Verdict, Since = v.Value.Since }, StringComparer.Ordinal);
        foreach (var decision in decisions)
            verdicts[decision.Backend] = new BackendVerdictSpec { Verdict = decision.Verdict, Since = now };
        var spec = new ClusterHealthSpec { Backends = new SortedDictionary<string, BackendVerdictSpec>(verdicts, StringComparer.Ordinal) };
        long revision;
        try
        {
            revision = await commits.CommitAsync(new ConfigEntry(Key, 0, ConfigJson.Write(spec)));
        }
        catch (AdminException ex) when (ex.Kind is AdminErrorKind.NotFound or AdminErrorKind.Invalid)
        {
            // The cluster or its tenant is gone (a report racing the deletion): nothing to judge.
            logger.LogDebug("Cluster {Tenant}/{Cluster} no longer exists; verdicts not committed", Id.Tenant, Id.Cluster);
            return;
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Committing verdicts of cluster {Tenant}/{Cluster} failed; retrying on the next report", Id.Tenant, Id.Cluster);
            return;
        }
        _quorum.Accept(decisions, now);
        foreach (var d in decisions)
            logger.LogInformation("Backend {Tenant}/{Cluster}/{Backend} is {Verdict} ({Failing} failing, {Passing} passing of {Reporting} reporting workers) at revision {Revision}",
                Id.Tenant, Id.Cluster, d.Backend, d.Verdict, d.Failing, d.Passing, d.Reporting, revision);
        try
        {
            await history.RecordAsync(Id.Tenant, Id.Cluster,
                decisions.Select(d => new VerdictChange(d.Backend, d.Verdict, d.Failing, d.Passing, d.Reporting, revision, now)).ToList());
        }
        catch (Exception ex)
        {
            // The verdict is committed and distributed; only its history row is missing.
            logger.LogWarning(ex, "Recording the verdict changes of cluster {Tenant}/{Cluster} at revision {Revision} failed", Id.Tenant, Id.Cluster, revision);
        }
    }
}
