using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http.Features;

namespace ProxyPlatform.DataPlane.WebSockets;

/// <summary>
/// The WebSocket connections (HTTP/1.1 upgrades) the worker tunnels now, so that a worker that leaves
/// closes each one with a Close frame, 1001 "going away", to both its client and its backend instead
/// of a TCP reset at the end of the host's shutdown. Other upgrades are not framed, so they are left to
/// the graceful shutdown.
/// </summary>
public sealed class WebSocketTunnels
{
    private readonly ConcurrentDictionary<TrackedUpgrade, byte> _open = new();
    private volatile bool _closing;

    public int Count => _open.Count;

    /// <summary>
    /// Follows the request if it asks for a WebSocket upgrade: YARP then upgrades through a feature that
    /// hands it a <see cref="WebSocketTunnel"/>. Dispose the answer when the request has ended.
    /// </summary>
    public IDisposable? Track(HttpContext context)
    {
        if (context.Features.Get<IHttpUpgradeFeature>() is not { IsUpgradableRequest: true } upgrade
            || !context.Request.Headers.Upgrade.ToString().Contains("websocket", StringComparison.OrdinalIgnoreCase))
            return null;
        var tracked = new TrackedUpgrade(upgrade, this);
        context.Features.Set<IHttpUpgradeFeature>(tracked);
        _open[tracked] = 0;
        return tracked;
    }

    /// <summary>
    /// Sends every open tunnel (and any opened from now on) its Close frames and waits, at most
    /// <paramref name="grace"/>, until their requests have ended.
    /// </summary>
    public async Task CloseAllAsync(TimeSpan grace)
    {
        _closing = true;
        var open = _open.Keys.ToList();
        foreach (var tracked in open)
            await tracked.BeginCloseAsync();
        try
        {
            await Task.WhenAll(open.Select(t => t.Ended)).WaitAsync(grace);
        }
        catch (TimeoutException)
        {
        }
    }

    private sealed class TrackedUpgrade(IHttpUpgradeFeature inner, WebSocketTunnels owner) : IHttpUpgradeFeature, IDisposable
    {
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private WebSocketTunnel? _tunnel;

        public bool IsUpgradableRequest => inner.IsUpgradableRequest;

        public Task Ended => _ended.Task;

        public async Task<Stream> UpgradeAsync()
        {
            var tunnel = new WebSocketTunnel(await inner.UpgradeAsync());
            Volatile.Write(ref _tunnel, tunnel);
            if (owner._closing)
                await tunnel.BeginClose();
            return tunnel;
        }

        public Task BeginCloseAsync() => Volatile.Read(ref _tunnel)?.BeginClose() ?? Task.CompletedTask;

        public void Dispose()
        {
            owner._open.TryRemove(this, out _);
            _ended.TrySetResult();
        }
    }
}
