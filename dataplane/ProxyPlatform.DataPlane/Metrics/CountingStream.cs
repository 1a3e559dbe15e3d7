namespace ProxyPlatform.DataPlane.Metrics;

/// <summary>
/// Passes a body through and counts its bytes, for the bodies whose size no header gives (chunked
/// requests and responses, SSE): the counters of a route and a backend then hold the bytes that
/// really went through. Bodies with a Content-Length are counted from it and never wrapped.
/// </summary>
public sealed class CountingStream(Stream inner) : Stream
{
    private long _bytes;

    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>The request body's size: its Content-Length, or what was read of a body without one.</summary>
    public static long BytesOf(HttpRequest request) => request.ContentLength ?? (request.Body as CountingStream)?.Bytes ?? 0;

    /// <summary>The response body's size: its Content-Length, or what was written of a body without one.</summary>
    public static long BytesOf(HttpResponse response) => response.ContentLength ?? (response.Body as CountingStream)?.Bytes ?? 0;

    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => false;
    public override bool CanWrite => inner.CanWrite;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Counted(await inner.ReadAsync(buffer, cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        inner.Write(buffer, offset, count);
        Counted(count);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        inner.Write(buffer);
        Counted(buffer.Length);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await inner.WriteAsync(buffer, cancellationToken);
        Counted(buffer.Length);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private int Counted(int bytes)
    {
        Interlocked.Add(ref _bytes, bytes);
        return bytes;
    }
}
