namespace ProxyPlatform.DataPlane.WebSockets;

/// <summary>
/// The client's side of a WebSocket connection that YARP tunnels to a backend: YARP reads what the client
/// sends through it (and passes it to the backend) and writes what the backend sends into it. Until
/// <see cref="BeginClose"/> the bytes go through untouched (each direction followed by
/// <see cref="WebSocketFrames"/>); then, each at its next frame boundary, the client gets a Close frame
/// with 1001 "going away" written into its direction and the backend one read into its own, as if the
/// client had sent it. What either sends after that is swallowed until the client's answering Close has
/// arrived, which ends the client's direction, and the backend ends its own by closing.
/// </summary>
public sealed class WebSocketTunnel(Stream client) : Stream
{
    private readonly WebSocketFrames _toClient = new();
    private readonly WebSocketFrames _fromClient = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TaskCompletionSource _closing = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] _readBuffer = new byte[16 * 1024];
    private int _readStart;
    private int _readEnd;
    private Task<int>? _pendingRead;
    private bool _closeSentToClient;
    private bool _closeSentToBackend;
    private bool _ended;

    /// <summary>Closes the tunnel at the next frame boundary of each direction; calling it again does nothing more.</summary>
    public async Task BeginClose()
    {
        if (!_closing.TrySetResult())
            return;
        await _writeLock.WaitAsync();
        try
        {
            if (!_closeSentToClient && _toClient.AtBoundary)
                await SendCloseToClientAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The client is gone already: nothing left to tell it.
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // YARP waits for the client with a zero-byte read before it rents a buffer: that one answers 0
        // as soon as there is something to read (data, the Close to inject, or the end).
        while (true)
        {
            if (_readStart < _readEnd)
            {
                var available = _readBuffer.AsSpan(_readStart, _readEnd - _readStart);
                if (_closeSentToBackend)
                {
                    // The backend has its Close: the client's frames stop here, and its answering Close ends the direction.
                    _readStart += _fromClient.Advance(available, stopAtBoundary: true);
                    if (_fromClient.SawClose && _fromClient.AtBoundary)
                        _ended = true;
                    if (_ended)
                        return 0;
                    continue;
                }
                if (buffer.IsEmpty)
                    return 0;
                var length = Math.Min(available.Length, buffer.Length);
                var taken = _fromClient.Advance(available[..length], stopAtBoundary: _closing.Task.IsCompleted);
                available[..taken].CopyTo(buffer.Span);
                _readStart += taken;
                return taken;
            }
            if (_ended)
                return 0;
            if (_closing.Task.IsCompleted && !_closeSentToBackend && _fromClient.AtBoundary)
            {
                if (buffer.IsEmpty)
                    return 0;
                var close = WebSocketFrames.ClientClose();
                if (buffer.Length >= close.Length)
                {
                    close.CopyTo(buffer);
                    _closeSentToBackend = true;
                    return close.Length;
                }
            }
            _pendingRead ??= client.ReadAsync(_readBuffer, CancellationToken.None).AsTask();
            if (!_closeSentToBackend && _fromClient.AtBoundary && !_closing.Task.IsCompleted)
                await Task.WhenAny(_pendingRead, _closing.Task).WaitAsync(cancellationToken);
            else
                await _pendingRead.WaitAsync(cancellationToken);
            if (!_pendingRead.IsCompleted)
                continue;
            var read = await _pendingRead;
            _pendingRead = null;
            if (read == 0)
                _ended = true;
            (_readStart, _readEnd) = (0, read);
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            if (_closeSentToClient)
                return;
            if (!_closing.Task.IsCompleted)
            {
                await client.WriteAsync(buffer, cancellationToken);
                _toClient.Advance(buffer.Span);
                return;
            }
            if (!_toClient.AtBoundary)
            {
                var taken = _toClient.Advance(buffer.Span, stopAtBoundary: true);
                await client.WriteAsync(buffer[..taken], cancellationToken);
            }
            if (_toClient.AtBoundary)
                await SendCloseToClientAsync(cancellationToken);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task SendCloseToClientAsync(CancellationToken cancellationToken)
    {
        _closeSentToClient = true;
        await client.WriteAsync(WebSocketFrames.ServerClose(), cancellationToken);
        await client.FlushAsync(cancellationToken);
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => client.FlushAsync(cancellationToken);

    public override void Flush() => client.Flush();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            client.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await client.DisposeAsync();
        await base.DisposeAsync();
    }
}
