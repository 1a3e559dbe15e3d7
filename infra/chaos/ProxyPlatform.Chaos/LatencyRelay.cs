using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace ProxyPlatform.Chaos;

/// <summary>
/// A TCP relay that holds every chunk it forwards for a random delay while <see cref="Delaying"/> is on,
/// in both directions and without reordering a connection's bytes (a chunk leaves no earlier than the
/// one before it). This kernel has no <c>netem</c>, so the network scenario delays the worker's
/// control-plane traffic here and drops its packets in the kernel (<see cref="NetworkNamespace.DropAsync"/>).
/// </summary>
public sealed class LatencyRelay : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly Dictionary<TcpClient, Task> _connections = [];
    private volatile bool _delaying;

    private LatencyRelay(IPAddress address, IPEndPoint target, TimeSpan delay, TimeSpan jitter)
    {
        Delay = delay;
        Jitter = jitter;
        _target = target;
        _listener = new TcpListener(address, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public TimeSpan Delay { get; }
    public TimeSpan Jitter { get; }

    /// <summary>Where the relay listens.</summary>
    public IPEndPoint Endpoint => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>Whether chunks are held back (otherwise forwarded at once).</summary>
    public bool Delaying
    {
        get => _delaying;
        set => _delaying = value;
    }

    /// <summary>Starts a relay on <paramref name="address"/> (port chosen by the system) to <paramref name="target"/>.</summary>
    public static LatencyRelay Start(IPAddress address, IPEndPoint target, TimeSpan delay, TimeSpan jitter) =>
        new(address, target, delay, jitter);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            lock (_connections)
                _connections[inbound] = RelayAsync(inbound);
        }
    }

    private async Task RelayAsync(TcpClient inbound)
    {
        // Off the accepting loop at once, so that it never waits for a connection's set-up.
        await Task.Yield();
        using var outbound = new TcpClient { NoDelay = true };
        try
        {
            inbound.NoDelay = true;
            await outbound.ConnectAsync(_target, _stop.Token);
            using var both = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            var up = PumpAsync(inbound.GetStream(), outbound.GetStream(), both);
            var down = PumpAsync(outbound.GetStream(), inbound.GetStream(), both);
            await Task.WhenAny(up, down);
            // One side closed: the other is closed with it, as a relay in the path would.
            await both.CancelAsync();
            await Task.WhenAll(up, down);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
        }
        finally
        {
            lock (_connections)
                _connections.Remove(inbound);
            inbound.Dispose();
        }
    }

    /// <summary>Reads from <paramref name="from"/> and writes each chunk to <paramref name="to"/> once its release time has come.</summary>
    private async Task PumpAsync(NetworkStream from, NetworkStream to, CancellationTokenSource connection)
    {
        var cancel = connection.Token;
        var chunks = Channel.CreateUnbounded<(byte[] Data, long ReleaseAt)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writer = WriteAsync(chunks.Reader, to, connection);
        try
        {
            long lastRelease = 0;
            while (true)
            {
                var buffer = new byte[16 * 1024];
                var read = await from.ReadAsync(buffer, cancel);
                if (read == 0)
                    break;
                var now = Environment.TickCount64;
                var releaseAt = now;
                if (_delaying)
                {
                    var jitter = (Random.Shared.NextDouble() * 2 - 1) * Jitter.TotalMilliseconds;
                    releaseAt = now + (long)(Delay.TotalMilliseconds + jitter);
                }
                releaseAt = Math.Max(releaseAt, lastRelease);
                lastRelease = releaseAt;
                chunks.Writer.TryWrite((buffer[..read], releaseAt));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
        }
        finally
        {
            chunks.Writer.TryComplete();
        }
        await writer;
    }

    private static async Task WriteAsync(ChannelReader<(byte[] Data, long ReleaseAt)> chunks, NetworkStream to, CancellationTokenSource connection)
    {
        var cancel = connection.Token;
        try
        {
            await foreach (var (data, releaseAt) in chunks.ReadAllAsync(cancel))
            {
                var wait = releaseAt - Environment.TickCount64;
                if (wait > 0)
                    await Task.Delay(TimeSpan.FromMilliseconds(wait), cancel);
                await to.WriteAsync(data, cancel);
            }
            to.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // The side it writes to is gone: the whole connection ends, rather than its reader queueing for no one.
            if (e is not OperationCanceledException)
                await connection.CancelAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Task[] relaying;
        lock (_connections)
        {
            foreach (var connection in _connections.Keys)
                connection.Dispose();
            relaying = [.. _connections.Values];
        }
        await _accepting;
        await Task.WhenAll(relaying);
        _stop.Dispose();
    }
}
