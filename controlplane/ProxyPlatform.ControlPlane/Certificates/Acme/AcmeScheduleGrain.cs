namespace ProxyPlatform.ControlPlane.Certificates.Acme;

/// <summary>When each ACME-managed certificate is next due, by <c>tenant/certificate</c>.</summary>
[GenerateSerializer]
public sealed class AcmeScheduleState
{
    [Id(0)] public Dictionary<string, DateTimeOffset> Due { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// The platform's schedule of ACME work (<see cref="IAcmeScheduleGrain"/>). It only wakes certificate
/// grains; each certificate's grain does its own work, one node at a time, and says when it is next due.
/// </summary>
public sealed class AcmeScheduleGrain([PersistentState("acme-schedule")] IPersistentState<AcmeScheduleState> state, TimeProvider clock, ILogger<AcmeScheduleGrain> logger)
    : Grain, IAcmeScheduleGrain
{
    public async Task Schedule(string certificate, DateTimeOffset? due)
    {
        var changed = due is { } when
            ? !state.State.Due.TryGetValue(certificate, out var before) || before != when
            : state.State.Due.Remove(certificate);
        if (due is { } next)
            state.State.Due[certificate] = next;
        if (changed)
            await state.WriteStateAsync();
    }

    public Task<IReadOnlyList<string>> ListOf(string tenant) =>
        Task.FromResult<IReadOnlyList<string>>([.. state.State.Due.Keys
            .Select(GrainKeys.Split).Where(k => k.Tenant == tenant).Select(k => k.Id).Order(StringComparer.Ordinal)]);

    public async Task Tick()
    {
        var now = clock.GetUtcNow();
        foreach (var (certificate, _) in state.State.Due.Where(d => d.Value <= now).ToList())
        {
            try
            {
                var next = await GrainFactory.GetGrain<ICertificateGrain>(certificate).Tick();
                await Schedule(certificate, next);
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Waking certificate {Certificate} for its ACME work failed; it is tried again on the next check", certificate);
            }
        }
    }
}

/// <summary>Asks the schedule, every <see cref="AcmeOptions.CheckPeriod"/>, to wake the certificates that are due; idle without a directory.</summary>
public sealed class AcmeScheduler(IGrainFactory grains, AcmeOptions options, ILogger<AcmeScheduler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.DirectoryUrl is null)
            return;
        using var timer = new PeriodicTimer(options.CheckPeriod);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await grains.GetGrain<IAcmeScheduleGrain>(HostRegistry.Key).Tick();
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Checking for due ACME work failed");
            }
        }
    }
}
