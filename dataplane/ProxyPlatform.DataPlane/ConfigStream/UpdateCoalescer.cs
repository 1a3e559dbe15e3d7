using System.Threading.Channels;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.ConfigStream;

/// <summary>
/// How the updates a stream brings become applies. Everything queued is merged into one apply (one
/// validation, one swap, one rebuild of the route matcher, one save), so a burst costs what one
/// change costs. Applies that change routing are at least <see cref="RouteSpacing"/> apart, taking
/// in what arrives meanwhile; a lone change is not delayed. If the merged update is rejected, the
/// updates are applied one by one, so that the NACK names the update at fault.
/// </summary>
public sealed class UpdateCoalescer(Func<ConfigUpdate, CancellationToken, Task<ApplyResult>> apply, TimeProvider time)
{
    /// <summary>The least time between two applies that change the routing table.</summary>
    public static readonly TimeSpan RouteSpacing = TimeSpan.FromMilliseconds(5);

    private long? _lastRouteApply;

    /// <summary>Waits for updates and applies everything queued; null once the queue is completed and empty.</summary>
    public async Task<ApplyResult?> ApplyNextAsync(ChannelReader<ConfigUpdate> queue, CancellationToken cancellationToken)
    {
        if (!await queue.WaitToReadAsync(cancellationToken))
            return null;
        var batch = new List<ConfigUpdate>();
        TakeQueued(queue, batch);
        if (batch.Any(UpdateBatch.TouchesRoutes))
        {
            if (_lastRouteApply is { } last && RouteSpacing - time.GetElapsedTime(last) is { Ticks: > 0 } wait)
            {
                await Task.Delay(wait, time, cancellationToken);
                TakeQueued(queue, batch);
            }
            _lastRouteApply = time.GetTimestamp();
        }
        return await ApplyAsync(batch, cancellationToken);
    }

    /// <summary>Applies <paramref name="updates"/> as one when they form a chain; one by one when they do not, or when the merged update is rejected.</summary>
    public async Task<ApplyResult> ApplyAsync(IReadOnlyList<ConfigUpdate> updates, CancellationToken cancellationToken)
    {
        if (updates.Count > 1 && UpdateBatch.Merge(updates) is { } merged)
        {
            var result = await apply(merged, cancellationToken);
            if (result.Outcome != ApplyOutcome.Rejected)
                return result;
        }
        ApplyResult? last = null;
        foreach (var update in updates)
        {
            last = await apply(update, cancellationToken);
            if (last.Outcome != ApplyOutcome.Applied)
                return last;
        }
        return last!;
    }

    private static void TakeQueued(ChannelReader<ConfigUpdate> queue, List<ConfigUpdate> batch)
    {
        while (queue.TryRead(out var update))
            batch.Add(update);
    }
}
