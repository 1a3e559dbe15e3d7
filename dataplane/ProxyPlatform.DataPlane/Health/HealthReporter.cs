using ProxyPlatform.DataPlane.ConfigStream;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Health;

/// <summary>
/// Sends this worker's probe views on the configuration stream: a full report when the stream opens
/// and every <see cref="RefreshPeriod"/> (so the control plane knows the worker still reports), and
/// the clusters whose view changed within <see cref="Coalesce"/> of the change.
/// </summary>
public sealed class HealthReporter(HealthViews views) : IStreamReporter
{
    /// <summary>Full reports are this far apart at most; the control plane's window is several of them.</summary>
    public static readonly TimeSpan RefreshPeriod = TimeSpan.FromSeconds(2);
    /// <summary>Changes that happen this close together travel in one report.</summary>
    public static readonly TimeSpan Coalesce = TimeSpan.FromMilliseconds(100);

    public async Task RunAsync(Func<WorkerMessage, CancellationToken, Task> send, CancellationToken streamClosed)
    {
        var nextFull = DateTime.UtcNow;
        while (!streamClosed.IsCancellationRequested)
        {
            var wait = nextFull - DateTime.UtcNow;
            if (wait > TimeSpan.Zero)
                await Task.WhenAny(views.WhenChanged(), Task.Delay(wait, streamClosed));
            streamClosed.ThrowIfCancellationRequested();
            if (DateTime.UtcNow >= nextFull)
            {
                views.TakeChanged();
                await send(new WorkerMessage { Health = views.Report(null) }, streamClosed);
                nextFull = DateTime.UtcNow + RefreshPeriod;
                continue;
            }
            await Task.Delay(Coalesce, streamClosed);
            var changed = views.TakeChanged();
            if (changed.Count > 0)
                await send(new WorkerMessage { Health = views.Report(changed) }, streamClosed);
        }
    }
}
