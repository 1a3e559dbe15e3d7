using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Documents;

/// <summary>How long configuration history is kept (<c>History:RetentionDays</c>, default 30) and how often it is pruned.</summary>
public sealed record HistoryOptions
{
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(30);
    public TimeSpan PruneEvery { get; init; } = TimeSpan.FromHours(1);

    public static HistoryOptions From(IConfiguration configuration)
    {
        var defaults = new HistoryOptions();
        var days = configuration.GetValue("History:RetentionDays", defaults.Retention.TotalDays);
        if (days <= 0)
            throw new InvalidOperationException($"History:RetentionDays must be positive, not {days}.");
        return new HistoryOptions
        {
            Retention = TimeSpan.FromDays(days),
            PruneEvery = TimeSpan.FromSeconds(configuration.GetValue("History:PruneEverySeconds", defaults.PruneEvery.TotalSeconds)),
        };
    }
}

/// <summary>
/// Deletes the history no revision within retention needs (<see cref="ConfigHistory.PruneAsync"/>). Every
/// node runs it; the delete is idempotent, so two nodes pruning at once only repeat each other.
/// </summary>
public sealed class HistoryRetention(ConfigHistory history, HistoryOptions options, TimeProvider time, ILogger<HistoryRetention> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.PruneEvery, time);
        do
        {
            try
            {
                var rows = await history.PruneAsync(time.GetUtcNow() - options.Retention, stoppingToken);
                if (rows > 0)
                    logger.LogInformation("Pruned {Rows} configuration history row(s) older than {Retention}", rows, options.Retention);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Pruning configuration history failed; trying again in {Period}", options.PruneEvery);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
