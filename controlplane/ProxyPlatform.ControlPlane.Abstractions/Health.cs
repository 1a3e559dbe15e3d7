using Orleans.Concurrency;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane;

/// <summary>One worker's own view of a backend, from its probes and its live traffic.</summary>
public enum ProbeView
{
    /// <summary>Not enough probes yet to apply a threshold; does not count towards a verdict.</summary>
    Unknown = 0,
    Passing = 1,
    Failing = 2,
}

/// <summary>What one worker reported of one backend.</summary>
[GenerateSerializer, Immutable, Alias("pp.BackendObservation")]
public sealed record BackendObservation(
    [property: Id(0)] string Backend,
    [property: Id(1)] ProbeView View,
    [property: Id(2)] DateTimeOffset Since,
    [property: Id(3)] double LatencyMs,
    [property: Id(4)] string? Reason,
    [property: Id(5)] bool Outlier,
    [property: Id(6)] string? OutlierReason);

/// <summary>A worker's current view of a backend and when the worker last reported it.</summary>
[GenerateSerializer, Immutable, Alias("pp.WorkerBackendView")]
public sealed record WorkerBackendView(
    [property: Id(0)] string Worker,
    [property: Id(1)] BackendObservation Observation,
    [property: Id(2)] DateTimeOffset ReportedAt);

/// <summary>The verdict on a backend, since when, and the views of the workers that currently count.</summary>
[GenerateSerializer, Immutable, Alias("pp.BackendHealthStatus")]
public sealed record BackendHealthStatus(
    [property: Id(0)] string Backend,
    [property: Id(1)] string Verdict,
    [property: Id(2)] DateTimeOffset? Since,
    [property: Id(3)] IReadOnlyList<WorkerBackendView> Workers)
{
    public static BackendHealthStatus Unknown(string backend) => new(backend, HealthVerdicts.Unknown, null, []);
}

/// <summary>A change of a backend's verdict and the counts of worker views behind it.</summary>
[GenerateSerializer, Immutable, Alias("pp.VerdictChange")]
public sealed record VerdictChange(
    [property: Id(0)] string Backend,
    [property: Id(1)] string Verdict,
    [property: Id(2)] int Failing,
    [property: Id(3)] int Passing,
    [property: Id(4)] int Reporting,
    [property: Id(5)] long Revision,
    [property: Id(6)] DateTimeOffset At);

/// <summary>
/// Combines the health views every worker reports of one cluster's backends into one verdict per
/// backend, and distributes verdict changes as revisions. Key: <c>tenant/cluster</c>.
/// </summary>
public interface IHealthVerdictGrain : IGrainWithStringKey
{
    /// <summary>A worker's whole current view of the cluster's backends (replaces its previous one).</summary>
    [OneWay]
    Task Report(string worker, string instance, BackendObservation[] backends);

    /// <summary>The worker no longer reports on this cluster (its stream ended, or it stopped probing the cluster).</summary>
    [OneWay]
    Task WorkerGone(string worker, string instance);

    Task<IReadOnlyList<BackendHealthStatus>> GetStatus();

    /// <summary>The cluster was deleted: forget every view and verdict.</summary>
    Task Reset();

    /// <summary>Backends left the cluster: forget their views, verdicts and history.</summary>
    [OneWay]
    Task ForgetBackends(string[] backends);
}
