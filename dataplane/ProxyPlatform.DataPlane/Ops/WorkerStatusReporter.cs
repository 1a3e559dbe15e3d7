using System.Net;
using ProxyPlatform.DataPlane.ConfigStream;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.Http;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Ops;

/// <summary>
/// Tells the control plane where this worker serves (its proxy and ops URLs, known once the listeners are
/// bound, port 0 included) and its drain state: on every stream, and again whenever the drain state changes.
/// </summary>
public sealed class WorkerStatusReporter(WorkerListeners listeners, WorkerDrain drain, DataPlaneOptions options, IHostApplicationLifetime lifetime) : IStreamReporter
{
    public async Task RunAsync(Func<WorkerMessage, CancellationToken, Task> send, CancellationToken streamClosed)
    {
        // The listeners' ports are known once the server has started.
        await Task.Delay(Timeout.Infinite, lifetime.ApplicationStarted).ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(streamClosed);
        while (!streamClosed.IsCancellationRequested)
        {
            var changed = drain.Changed;
            var state = drain.State;
            await send(new WorkerMessage { Status = new WorkerStatus { ProxyUrl = Advertised(listeners.Proxy), OpsUrl = Advertised(listeners.Ops), Drain = state } }, streamClosed);
            if (state == DrainState.Leaving)
                drain.LeavingReported();
            await changed.WaitAsync(streamClosed);
        }
    }

    /// <summary>The listener's URL with an unspecified address (0.0.0.0, ::) replaced by one others can use.</summary>
    private string Advertised(ListenerAddress listener)
    {
        var host = listener.Configured.Host.Trim('[', ']');
        if (IPAddress.TryParse(host, out var address) && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)))
            return $"{listener.Configured.Scheme}://{options.AdvertisedHost ?? Dns.GetHostName()}:{listener.Port}";
        return listener.Url;
    }
}
