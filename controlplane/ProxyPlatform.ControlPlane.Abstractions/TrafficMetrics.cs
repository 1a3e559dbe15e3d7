using Orleans.Concurrency;

namespace ProxyPlatform.ControlPlane;

/// <summary>
/// One series of a worker's metrics report, as the tenant's metrics grain takes it in: cumulative
/// values since the worker instance created the series (<see cref="Epoch"/> tells successive ones apart).
/// </summary>
[GenerateSerializer, Immutable, Alias("pp.TrafficSample")]
public sealed record TrafficSample(
    [property: Id(0)] bool IsBackend,
    [property: Id(1)] string Route,
    [property: Id(2)] string Cluster,
    [property: Id(3)] string Backend,
    [property: Id(4)] ulong Epoch,
    [property: Id(5)] long[] RequestsByClass,
    [property: Id(6)] long BytesIn,
    [property: Id(7)] long BytesOut,
    [property: Id(8)] long[] LatencyBuckets,
    [property: Id(9)] long LatencySumUs,
    [property: Id(10)] bool Removed = false);

/// <summary>Totals and recent rates of some traffic: a tenant's, a route's, a backend's or a worker's.</summary>
[GenerateSerializer, Immutable, Alias("pp.TrafficSummary")]
public sealed record TrafficSummary(
    [property: Id(0)] long Requests,
    [property: Id(1)] IReadOnlyDictionary<string, long> ByStatusClass,
    [property: Id(2)] long BytesIn,
    [property: Id(3)] long BytesOut,
    [property: Id(4)] double RequestsPerSecond,
    [property: Id(5)] IReadOnlyDictionary<string, double> RatePerStatusClass,
    [property: Id(6)] LatencySummary Latency);

/// <summary>Latency percentiles (milliseconds) estimated from the fixed buckets; null without requests.</summary>
[GenerateSerializer, Immutable, Alias("pp.LatencySummary")]
public sealed record LatencySummary(
    [property: Id(0)] double? MeanMs,
    [property: Id(1)] double? P50Ms,
    [property: Id(2)] double? P90Ms,
    [property: Id(3)] double? P99Ms);

[GenerateSerializer, Immutable, Alias("pp.RouteTraffic")]
public sealed record RouteTraffic([property: Id(0)] string Route, [property: Id(1)] TrafficSummary Traffic);

[GenerateSerializer, Immutable, Alias("pp.BackendTraffic")]
public sealed record BackendTraffic([property: Id(0)] string Cluster, [property: Id(1)] string Backend, [property: Id(2)] TrafficSummary Traffic);

[GenerateSerializer, Immutable, Alias("pp.WorkerTraffic")]
public sealed record WorkerTraffic([property: Id(0)] string Worker, [property: Id(1)] TrafficSummary Traffic);

/// <summary>A tenant's traffic: totals, and the same by route, by backend and by worker; rates over <see cref="RateWindowSeconds"/>.</summary>
[GenerateSerializer, Immutable, Alias("pp.TenantTraffic")]
public sealed record TenantTrafficReport(
    [property: Id(0)] string Tenant,
    [property: Id(1)] TrafficSummary Totals,
    [property: Id(2)] IReadOnlyList<RouteTraffic> Routes,
    [property: Id(3)] IReadOnlyList<BackendTraffic> Backends,
    [property: Id(4)] IReadOnlyList<WorkerTraffic> Workers,
    [property: Id(5)] int RateWindowSeconds,
    [property: Id(6)] DateTimeOffset? LastReport);

/// <summary>
/// A tenant's traffic as its workers report it: the latest cumulative values of every worker
/// instance's series, totals by tenant, route, backend and worker, and rates over the last minute.
/// Kept in PostgreSQL with throttled writes. Key: tenant ID.
/// </summary>
public interface ITenantMetricsGrain : IGrainWithStringKey
{
    Task Report(string worker, string instance, TrafficSample[] samples);
    Task<TenantTrafficReport> Get();
    /// <summary>Each route's traffic step by step over the last <paramref name="window"/> (at most <see cref="TrafficHistoryLimits.Kept"/>).</summary>
    Task<TrafficHistoryReport> GetHistory(TimeSpan window);
    /// <summary>
    /// Routes or backends were removed: drop their series (<c>r/route</c>, <c>b/cluster/backend</c>, or
    /// <c>b/cluster/</c> for every backend of a cluster) and ignore late reports of them.
    /// </summary>
    [OneWay]
    Task Forget(string[] series);
}

/// <summary>One step of a route's traffic history: rates over the step that ended at <see cref="Time"/>, and the latency of its requests.</summary>
[GenerateSerializer, Immutable, Alias("pp.TrafficPoint")]
public sealed record TrafficPoint(
    [property: Id(0)] DateTimeOffset Time,
    [property: Id(1)] double RequestsPerSecond,
    [property: Id(2)] IReadOnlyDictionary<string, double> RatePerStatusClass,
    [property: Id(3)] LatencySummary Latency);

[GenerateSerializer, Immutable, Alias("pp.RouteTrafficHistory")]
public sealed record RouteTrafficHistory([property: Id(0)] string Route, [property: Id(1)] IReadOnlyList<TrafficPoint> Points);

/// <summary>A tenant's recent traffic per route, step by step (the console's charts).</summary>
[GenerateSerializer, Immutable, Alias("pp.TrafficHistoryReport")]
public sealed record TrafficHistoryReport(
    [property: Id(0)] string Tenant,
    [property: Id(1)] int StepSeconds,
    [property: Id(2)] int WindowSeconds,
    [property: Id(3)] IReadOnlyList<RouteTrafficHistory> Routes);

/// <summary>How finely and how long the control plane keeps each tenant's traffic history (in memory, per tenant).</summary>
public static class TrafficHistoryLimits
{
    public static readonly TimeSpan Step = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan Kept = TimeSpan.FromMinutes(15);
}
