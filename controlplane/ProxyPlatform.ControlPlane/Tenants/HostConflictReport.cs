namespace ProxyPlatform.ControlPlane.Tenants;

/// <summary>
/// Activates the host registry once the control plane has started, so that host conflicts in data
/// from before one owner per host was enforced are logged at start-up (by the registry as it loads),
/// not first at the next tenant write.
/// </summary>
public sealed class HostConflictReport(IGrainFactory grains, IHostApplicationLifetime lifetime, ILogger<HostConflictReport> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
        try
        {
            var conflicts = await grains.GetGrain<IHostRegistryGrain>(HostRegistry.Key).GetConflicts(null);
            if (conflicts.Count > 0)
                logger.LogWarning("{Count} host ownership conflict(s) in the stored tenants; GET /v1/tenants/{{tenant}} shows each tenant's", conflicts.Count);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            // The registry loads again at the first tenant write; this was only the early report.
            logger.LogWarning(ex, "Could not load the host registry at start-up");
        }
    }
}
