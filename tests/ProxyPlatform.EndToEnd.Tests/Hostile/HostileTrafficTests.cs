using System.Net;
using System.Net.Sockets;
using System.Text;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Hostile;

/// <summary>A worker with a short header time-out in front of one backend, for raw hostile requests.</summary>
public sealed class HostileTrafficFixture : IAsyncLifetime
{
    public const string Host = "hostile.test";

    public Platform Platform { get; private set; } = null!;
    public TestBackend Backend { get; private set; } = null!;
    public Worker Worker { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Backend = await TestBackend.StartAsync("hostile");
        Platform = await Platform.StartAsync("hostile", workers: 0);
        Worker = await Platform.StartWorkerAsync("hostile-1", 0, "--Proxy:RequestHeadersTimeoutSeconds=2", "--Proxy:InstanceName=hostile-edge");
        await Worker.WaitForRevisionAsync(await Platform.CreateServiceAsync("hostile", Host, [Backend]));
    }

    public async ValueTask DisposeAsync()
    {
        await Platform.DisposeAsync();
        await Backend.DisposeAsync();
    }
}

/// <summary>
/// Hostile traffic against a worker (issue 18): request smuggling shapes, oversized and too many
/// headers, slowloris and slow bodies, invalid methods and targets, request-ID injection, loops. Each
/// gets a 4xx or a closed connection, the worker keeps serving others, and its memory stays bounded.
/// </summary>
public sealed class HostileTrafficTests(HostileTrafficFixture fixture) : IClassFixture<HostileTrafficFixture>
{
    private static readonly string Host = HostileTrafficFixture.Host;

    public static readonly TheoryData<string, string> Requests = new()
    {
        { "Content-Length with Transfer-Encoding", $"POST / HTTP/1.1\r\nHost: {Host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {Host}\r\n\r\n" },
        { "two different Content-Lengths", $"POST / HTTP/1.1\r\nHost: {Host}\r\nContent-Length: 3\r\nContent-Length: 7\r\n\r\nabcdefg" },
        { "a Transfer-Encoding that is not chunked last", $"POST / HTTP/1.1\r\nHost: {Host}\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" },
        { "an oversized header", $"GET / HTTP/1.1\r\nHost: {Host}\r\nX-Big: {new string('a', 40_000)}\r\n\r\n" },
        { "too many headers", $"GET / HTTP/1.1\r\nHost: {Host}\r\n{string.Concat(Enumerable.Range(0, 150).Select(i => $"X-H{i}: v\r\n"))}\r\n" },
        { "an invalid method", $"GE T / HTTP/1.1\r\nHost: {Host}\r\n\r\n" },
        { "a control character in the method", $"G\u0001T / HTTP/1.1\r\nHost: {Host}\r\n\r\n" },
        { "a relative target", $"GET ../../etc/passwd HTTP/1.1\r\nHost: {Host}\r\n\r\n" },
        { "an asterisk target for GET", $"GET * HTTP/1.1\r\nHost: {Host}\r\n\r\n" },
        { "a NUL in the target", $"GET /a\u0000b HTTP/1.1\r\nHost: {Host}\r\n\r\n" },
        { "an encoded slash in the path", $"GET /a%2F..%2Fb HTTP/1.1\r\nHost: {Host}\r\n\r\n" },
        { "no Host header", "GET / HTTP/1.1\r\n\r\n" },
        { "two Host headers", $"GET / HTTP/1.1\r\nHost: {Host}\r\nHost: other.test\r\n\r\n" },
        { "an unknown HTTP version", $"GET / HTTP/7.0\r\nHost: {Host}\r\n\r\n" },
        { "a bare CR inside the request ID", $"GET / HTTP/1.1\r\nHost: {Host}\r\nX-Request-ID: a\rInjected: yes\r\n\r\n" },
        { "a header line without a colon", $"GET / HTTP/1.1\r\nHost: {Host}\r\nNot a header\r\n\r\n" },
        { "a request passing this worker again", $"GET / HTTP/1.1\r\nHost: {Host}\r\nVia: 1.1 hostile-edge\r\n\r\n" },
        { "a request past the hop limit", $"GET / HTTP/1.1\r\nHost: {Host}\r\nX-ProxyPlatform-Hops: 1000\r\n\r\n" },
        { "a chunk size that overflows", $"POST / HTTP/1.1\r\nHost: {Host}\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n" },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task A_hostile_request_gets_a_4xx_or_a_closed_connection_and_the_worker_keeps_serving(string why, string request)
    {
        var answer = await SendRawAsync(request);
        // Two deliberate answers outside 4xx: a loop is 508 Loop Detected (docs/decisions.md), and an
        // HTTP version Kestrel does not speak is 505, as RFC 9110 has it.
        var allowed = why.Contains("again", StringComparison.Ordinal) || why.Contains("hop limit", StringComparison.Ordinal) ? answer.Status == 508
            : why.Contains("version", StringComparison.Ordinal) ? answer.Status == 505
            // Processed by Transfer-Encoding alone and the connection then closed: what RFC 9112 (6.1) allows besides refusing.
            : why.Contains("with Transfer-Encoding", StringComparison.Ordinal) && answer.Head.Contains("\r\nConnection: close", StringComparison.OrdinalIgnoreCase)
            || answer.Closed || answer.Status is >= 400 and < 500;
        var output = fixture.Worker.Process.Output;
        Assert.True(allowed,
            $"{why}: answered {answer.Status} (closed: {answer.Closed}):\n{answer.Head}\n--- worker ---\n{output[Math.Max(0, output.Length - 12000)..]}");
        // Nothing was smuggled through: the backend never saw a second request on that connection.
        Assert.DoesNotContain("/smuggled", answer.Head, StringComparison.Ordinal);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task An_over_long_request_ID_is_replaced_never_echoed()
    {
        var id = new string('x', 10_000);
        var answer = await SendRawAsync($"GET / HTTP/1.1\r\nHost: {Host}\r\nX-Request-ID: {id}\r\nConnection: close\r\n\r\n");
        Assert.Equal(200, answer.Status);
        Assert.DoesNotContain(id[..200], answer.Head, StringComparison.Ordinal);
        Assert.Contains("X-Request-ID: ", answer.Head, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Headers_trickled_in_slower_than_the_header_time_out_are_cut_off()
    {
        using var client = new TcpClient();
        await client.ConnectAsync(Endpoint(), TestContext.Current.CancellationToken);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {Host}\r\n"), TestContext.Current.CancellationToken);
        // One header byte at a time, for as long as the worker listens: it must hang up first.
        var closed = false;
        var buffer = new byte[4096];
        for (var i = 0; i < 600 && !closed; i++)
        {
            try
            {
                await stream.WriteAsync("X"u8.ToArray(), TestContext.Current.CancellationToken);
                var read = stream.ReadAsync(buffer, TestContext.Current.CancellationToken).AsTask();
                if (await Task.WhenAny(read, Task.Delay(TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken)) == read)
                    closed = true;
            }
            catch (IOException)
            {
                closed = true;
            }
        }
        Assert.True(closed, "the worker kept a connection whose headers never ended");
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task A_flood_of_hostile_requests_leaves_the_worker_serving_and_its_memory_bounded()
    {
        var process = fixture.Worker.Process;
        var requests = Requests.Select(r => r.Data.Item2).ToList();
        Task FloodAsync(int count) => Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (i, _) => await SendRawAsync(requests[i % requests.Count]));
        // The baseline is a worker that has already taken such a flood (code compiled, pools sized, and the
        // server GC's heaps grown to what this load makes them: a worker that had met each kind only a few
        // times once grew by more than the bound below on its first flood, and the collector does not hand
        // that back while nothing allocates). What is measured is what a second flood keeps: a leak grows
        // with every flood, a heap sized for the load does not.
        await FloodAsync(2_000);
        var before = process.ResidentBytes;
        // 2,000 hostile requests, 16 at a time, each on its own connection.
        await FloodAsync(2_000);
        await AssertStillServingAsync();
        // Each hostile request is refused within its limits (≤ 32 KiB of headers), so 2,000 of them
        // cannot grow the worker by more than a fraction of what buffering them whole would (~80 MB).
        // The collector gives memory back in its own time: awaited, with a deadline.
        await Eventually.Async(() => Task.FromResult(process.ResidentBytes), after => after - before < 64L * 1024 * 1024,
            TimeSpan.FromSeconds(30), after => $"the worker grew from {before >> 20} MB to {after >> 20} MB");
    }

    private IPEndPoint Endpoint()
    {
        var url = new Uri(fixture.Worker.ProxyUrl);
        return new IPEndPoint(IPAddress.Parse(url.Host), url.Port);
    }

    private async Task AssertStillServingAsync()
    {
        using var ok = await fixture.Worker.GetAsync(Host, "/");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    private sealed record RawAnswer(int? Status, bool Closed, string Head);

    // Sends the bytes as they are and reads the first answer, or notices the connection closed.
    private async Task<RawAnswer> SendRawAsync(string request)
    {
        using var client = new TcpClient();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await client.ConnectAsync(Endpoint(), deadline.Token);
        var stream = client.GetStream();
        try
        {
            await stream.WriteAsync(Encoding.Latin1.GetBytes(request), deadline.Token);
        }
        catch (IOException)
        {
            return new RawAnswer(null, true, "");
        }
        var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            while (received.Length < 64 * 1024)
            {
                var read = await stream.ReadAsync(buffer, deadline.Token);
                if (read == 0)
                    break;
                received.Write(buffer, 0, read);
                var text = Encoding.Latin1.GetString(received.ToArray());
                if (text.Contains("\r\n\r\n", StringComparison.Ordinal))
                    return Parse(text, closed: false);
            }
        }
        catch (IOException)
        {
        }
        return Parse(Encoding.Latin1.GetString(received.ToArray()), closed: true);
    }

    private static RawAnswer Parse(string text, bool closed)
    {
        var head = text.Split("\r\n\r\n")[0];
        int? status = head.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) && int.TryParse(head.AsSpan(9, 3), out var s) ? s : null;
        return new RawAnswer(status, closed && status is null, head);
    }
}
