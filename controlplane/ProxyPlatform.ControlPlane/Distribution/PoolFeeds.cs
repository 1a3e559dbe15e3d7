using System.Collections.Concurrent;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// The pools this node serves workers for, each with one observer registered at its distribution
/// grain. Observers live in the grain's memory only, so every node re-registers its observers
/// periodically: that survives the grain being re-activated on another silo, and a node that
/// died simply stops refreshing and expires. Each refresh also compares revisions, so a lost
/// notification costs at most one refresh period.
/// </summary>
public sealed class PoolFeeds(IGrainFactory grains, ConfigTombstones tombstones, Certificates.CertificateSecrets secrets, ILogger<PoolFeeds> logger) : BackgroundService
{
    private static readonly TimeSpan RefreshPeriod = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, Lazy<Task<PoolFeed>>> _feeds = new();

    public Task<PoolFeed> GetAsync(string pool)
    {
        var lazy = _feeds.GetOrAdd(pool, p => new Lazy<Task<PoolFeed>>(() => OpenAsync(p)));
        var task = lazy.Value;
        if (task.IsFaulted)
            _feeds.TryRemove(new KeyValuePair<string, Lazy<Task<PoolFeed>>>(pool, lazy));
        return task;
    }

    private async Task<PoolFeed> OpenAsync(string pool)
    {
        var feed = new PoolFeed(pool, grains, logger, tombstones, secrets.ToWire);
        feed.Reference = grains.CreateObjectReference<IConfigObserver>(feed);
        var grain = grains.GetGrain<IDistributionGrain>(pool);
        await grain.Subscribe(feed.Reference);
        feed.Load(await grain.GetSnapshot());
        logger.LogInformation("Serving pool {Pool} from revision {Revision}", pool, feed.Revision);
        return feed;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(RefreshPeriod);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            foreach (var lazy in _feeds.Values)
            {
                if (!lazy.IsValueCreated || !lazy.Value.IsCompletedSuccessfully)
                    continue;
                var feed = lazy.Value.Result;
                try
                {
                    var revision = await grains.GetGrain<IDistributionGrain>(feed.Pool).Subscribe(feed.Reference!);
                    if (revision != feed.Revision)
                        await feed.CatchUpAsync();
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning(ex, "Refreshing the observer of pool {Pool} failed", feed.Pool);
                }
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var lazy in _feeds.Values)
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully && lazy.Value.Result.Reference is { } reference)
            {
                try
                {
                    await grains.GetGrain<IDistributionGrain>(lazy.Value.Result.Pool).Unsubscribe(reference).WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
                }
                catch (Exception ex)
                {
                    logger.LogDebug(ex, "Unsubscribing from pool {Pool} on shutdown failed", lazy.Value.Result.Pool);
                }
                grains.DeleteObjectReference<IConfigObserver>(reference);
            }
        }
        await base.StopAsync(cancellationToken);
    }
}
