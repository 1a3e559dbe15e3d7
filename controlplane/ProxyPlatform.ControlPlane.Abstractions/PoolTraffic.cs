using Orleans.Concurrency;

namespace ProxyPlatform.ControlPlane;

/// <summary>A pool's request rate, summed over its workers' latest reports.</summary>
/// <param name="RequestsPerSecond">Requests per second over the workers that reported recently (workers report only when they served something).</param>
/// <param name="Workers">How many workers reported recently.</param>
[GenerateSerializer, Immutable, Alias("pp.PoolRate")]
public sealed record PoolRate([property: Id(0)] double RequestsPerSecond, [property: Id(1)] int Workers);

/// <summary>
/// The request rate of one pool (keyed by the pool's ID), from the metrics reports its workers send to
/// whichever control-plane node holds their streams; the pool's autoscaler reads it. Memory only: the
/// workers' next reports rebuild it.
/// </summary>
public interface IPoolTrafficGrain : IGrainWithStringKey
{
    /// <summary>
    /// A worker's requests (all its routes, every status) counted between its previous report to the
    /// same node and this one, <paramref name="seconds"/> apart by the worker's own clock.
    /// </summary>
    [OneWay]
    Task Report(string worker, string instance, long requests, double seconds);

    /// <summary>A worker's stream ended: its rate no longer counts.</summary>
    [OneWay]
    Task Forget(string worker, string instance);

    Task<PoolRate> GetRate();
}

/// <summary>
/// A pool's autoscaler (keyed by the pool's ID): one activation in the cluster, so one decision at a time.
/// Every node's ticker calls <see cref="Tick"/> for each pool with <c>autoscale</c>; ticks closer together
/// than the interval are ignored.
/// </summary>
public interface IPoolAutoscalerGrain : IGrainWithStringKey
{
    Task Tick();
}
