using Npgsql;
using ProxyPlatform.ControlPlane.Hosting;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.DataPlanes;

/// <summary>
/// Deletes the records of workers absent past <c>DataPlanes:ExpireAfter</c>, so that the worker
/// directory and its rows do not grow with every worker that ever connected (autoscaled workers get
/// new IDs). Every node sweeps; a worker's grain decides, one call at a time, so sweeps never race.
/// </summary>
public sealed class DataPlaneExpiry(NpgsqlDataSource db, IGrainFactory grains, ControlPlaneOptions options, ILogger<DataPlaneExpiry> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromTicks(Math.Clamp(options.WorkerExpiry.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromMinutes(1).Ticks));
        using var timer = new PeriodicTimer(period);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                foreach (var id in await NpgsqlGrainStorage.ListKeysAsync(db, DataPlaneGrain.GrainType, stoppingToken))
                {
                    if (await grains.GetGrain<IDataPlaneGrain>(id).Expire())
                        logger.LogInformation("Worker {Worker} has been gone for over {Expiry}; its record is deleted", id, options.WorkerExpiry);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Sweeping expired worker records failed; trying again in {Period}", period);
            }
        }
    }
}
