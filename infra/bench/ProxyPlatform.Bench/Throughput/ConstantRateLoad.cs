using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench.Throughput;

/// <summary>Latency at a constant request rate.</summary>
/// <param name="AchievedRate">Responses per second in the measured window (falls short of the rate when the target cannot keep up).</param>
public sealed record ConstantRate(double P50Ms, double P99Ms, double AchievedRate, long Errors);

/// <summary>
/// An open-loop load generator, since Debian packages no wrk2, built as wrk2 is: each of a fixed
/// set of keep-alive HTTP/1.1 connections has its own schedule (together they make the rate),
/// and each request is timed from when it was <em>due</em>, not from when it went out, so a
/// target that stalls a connection is charged for every request it held up (no coordinated
/// omission). Every target is measured by this same client, so its own overhead is in every row.
/// </summary>
/// <remarks>
/// One thread per connection, blocking I/O, sleeping between requests: async sockets on the
/// thread pool cost this client most of a core at a few thousand requests/s (the pool's workers
/// spin waiting for work), which a target on the same 2 cores would lose.
/// </remarks>
public static class ConstantRateLoad
{
    public const int Connections = 64;

    public static async Task<ConstantRate> RunAsync(Uri url, int rate, TimeSpan warmup, TimeSpan duration, CancellationToken cancellationToken)
    {
        var total = checked((int)(rate * (warmup + duration).TotalSeconds));
        var measuredFrom = (int)(rate * warmup.TotalSeconds);
        var latencies = new long[total];
        Array.Fill(latencies, -1);
        var errors = 0L;

        var request = Encoding.ASCII.GetBytes($"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {ThroughputBenchmark.Host}\r\n\r\n");
        var endpoint = new IPEndPoint(IPAddress.Parse(url.Host), url.Port);
        var connections = new List<KeepAliveConnection>();
        // Cancelling closes the sockets, which ends any blocking call on them.
        await using var closeOnCancel = cancellationToken.Register(() =>
        {
            lock (connections)
                connections.ForEach(c => c.Reset());
        });
        try
        {
            for (var i = 0; i < Connections; i++)
            {
                var connection = new KeepAliveConnection(endpoint, request);
                lock (connections)
                    connections.Add(connection);
                connection.Connect();
            }

            var start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 20;
            var ticksPerRequest = (double)Stopwatch.Frequency / rate;
            long DueAt(int i) => start + (long)(i * ticksPerRequest);
            // A target that falls behind gets a few seconds to catch up; what it still owes then counts as failed.
            var giveUpAt = DueAt(total) + Stopwatch.Frequency * 5;

            var threads = connections.Select((connection, k) => new Thread(() =>
            {
                SetTimerSlack();
                for (var i = k; i < total && !cancellationToken.IsCancellationRequested && Stopwatch.GetTimestamp() < giveUpAt; i += Connections)
                {
                    SleepUntil(DueAt(i));
                    try
                    {
                        if (connection.Get() != 200)
                            Interlocked.Increment(ref errors);
                    }
                    catch (Exception) when (cancellationToken.IsCancellationRequested)
                    {
                        // The sockets were closed under this thread's feet, to stop it.
                        break;
                    }
                    catch (Exception e) when (e is SocketException or IOException or InvalidDataException)
                    {
                        Interlocked.Increment(ref errors);
                        connection.Reset();
                    }
                    latencies[i] = Stopwatch.GetTimestamp() - DueAt(i);
                }
            }) { IsBackground = true, Name = $"constant-rate {k}" }).ToList();
            threads.ForEach(t => t.Start());
            await Task.Run(() => threads.ForEach(t => t.Join()), CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();

            var end = Stopwatch.GetTimestamp();
            var measured = new List<double>(total - measuredFrom);
            var answered = 0;
            for (var i = measuredFrom; i < total; i++)
            {
                if (latencies[i] >= 0)
                    answered++;
                else
                    errors++;
                measured.Add(Stopwatch.GetElapsedTime(0, latencies[i] >= 0 ? latencies[i] : end - DueAt(i)).TotalMilliseconds);
            }
            return new ConstantRate(Percentile(measured, 50), Percentile(measured, 99), answered / duration.TotalSeconds, errors);
        }
        finally
        {
            lock (connections)
                connections.ForEach(c => c.Reset());
        }
    }

    /// <summary>Linux lets a sleep overrun by the thread's timer slack, 50 µs by default: ask for 1 µs.</summary>
    private static void SetTimerSlack()
    {
        try
        {
            _ = prctl(PrSetTimerslack, 1000, 0, 0, 0);
        }
        catch (EntryPointNotFoundException)
        {
        }
    }

    private static void SleepUntil(long timestamp)
    {
        var microseconds = (timestamp - Stopwatch.GetTimestamp()) * 1_000_000 / Stopwatch.Frequency;
        if (microseconds > 0)
            _ = usleep((uint)Math.Min(microseconds, 1_000_000));
    }

    private const int PrSetTimerslack = 29;

    [DllImport("libc", EntryPoint = "usleep")]
    private static extern int usleep(uint microseconds);

    [DllImport("libc", EntryPoint = "prctl")]
    private static extern int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    /// <summary>One keep-alive HTTP/1.1 connection (blocking) sending the same GET and reading responses with a Content-Length.</summary>
    private sealed class KeepAliveConnection(EndPoint endpoint, byte[] request)
    {
        private readonly byte[] _buffer = new byte[16 * 1024];
        private int _start;
        private int _end;
        private Socket? _socket;

        public Socket Connect()
        {
            Reset();
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 5000, SendTimeout = 5000 };
            socket.Connect(endpoint);
            _socket = socket;
            return socket;
        }

        public void Reset()
        {
            Interlocked.Exchange(ref _socket, null)?.Dispose();
            _start = _end = 0;
        }

        /// <summary>Sends the request and reads the whole response; returns its status code.</summary>
        public int Get()
        {
            // A local: Reset on cancellation may clear the field meanwhile (the socket then throws ObjectDisposedException).
            var socket = _socket ?? Connect();
            socket.Send(request);
            int headLength;
            while ((headLength = HeadLength()) < 0)
                Fill(socket);
            var (status, bodyLength, close) = ParseHead(_buffer.AsSpan(_start, headLength));
            _start += headLength;
            while (bodyLength > 0)
            {
                if (_start == _end)
                    Fill(socket);
                var take = Math.Min(bodyLength, _end - _start);
                _start += take;
                bodyLength -= take;
            }
            if (close)
                Reset();
            return status;
        }

        private int HeadLength()
        {
            var at = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
            return at < 0 ? -1 : at + 4;
        }

        private void Fill(Socket socket)
        {
            if (_start == _end)
            {
                _start = _end = 0;
            }
            else if (_end == _buffer.Length)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                (_start, _end) = (0, _end - _start);
                if (_end == _buffer.Length)
                    throw new InvalidDataException("A response head is larger than 16 KB.");
            }
            var read = socket.Receive(_buffer, _end, _buffer.Length - _end, SocketFlags.None);
            if (read == 0)
                throw new IOException("The server closed the connection.");
            _end += read;
        }

        private static (int Status, int BodyLength, bool Close) ParseHead(ReadOnlySpan<byte> head)
        {
            if (head.Length < 12 || !head.StartsWith("HTTP/1.1 "u8) || !Utf8Parser.TryParse(head.Slice(9, 3), out int status, out _))
                throw new InvalidDataException("Not an HTTP/1.1 response.");
            var bodyLength = 0;
            var close = false;
            foreach (var range in head.Split("\r\n"u8))
            {
                var line = head[range];
                var colon = line.IndexOf((byte)':');
                if (colon <= 0)
                    continue;
                var name = line[..colon].Trim((byte)' ');
                var value = line[(colon + 1)..].Trim((byte)' ');
                if (Ascii.EqualsIgnoreCase(name, "content-length"u8) && !Utf8Parser.TryParse(value, out bodyLength, out _))
                    throw new InvalidDataException("A response has a malformed Content-Length.");
                if (Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8))
                    throw new InvalidDataException("Chunked responses are not supported; the backends send a Content-Length.");
                if (Ascii.EqualsIgnoreCase(name, "connection"u8) && Ascii.EqualsIgnoreCase(value, "close"u8))
                    close = true;
            }
            return (status, bodyLength, close);
        }
    }
}
