using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Proxy;

[Collection(ProxyCollection.Name)]
public sealed class StreamingTests(ProxyFixture fixture)
{
    private Worker Worker => fixture.Edge;

    [Fact]
    public async Task Server_sent_events_reach_the_client_one_by_one_as_the_backend_sends_them()
    {
        var sent = 0;
        var firstReceived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var events = await ScriptedBackend.StartAsync("events", async context =>
        {
            if (context.Request.Path != "/events")
            {
                await context.Response.WriteAsync("ready");
                return;
            }
            context.Response.ContentType = "text/event-stream";
            for (var i = 1; i <= 3; i++)
            {
                if (i > 1)
                    await Task.Delay(400, context.RequestAborted);
                // A proxy that buffered would hold event 1 back: give up waiting for the client after 10 s.
                if (i == 2)
                    await Task.WhenAny(firstReceived.Task, Task.Delay(10_000, context.RequestAborted));
                Volatile.Write(ref sent, i);
                await context.Response.WriteAsync($"id: {i}\ndata: event {i}\n\n", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        });
        await fixture.ServiceAsync("sse", "sse.test", new { loadBalancing = "RoundRobin" }, ("events", events.Address, 1));
        (await Worker.WaitForStatusAsync("sse.test", "/", 200)).Dispose();

        using var request = WorkerRequests.Request(HttpMethod.Get, "sse.test", "/events");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await Worker.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        Assert.Equal(["id: 1", "data: event 1"], await ReadEventAsync(reader));
        Assert.Equal(1, Volatile.Read(ref sent));
        firstReceived.SetResult();
        Assert.Equal(["id: 2", "data: event 2"], await ReadEventAsync(reader));
        Assert.Equal(["id: 3", "data: event 3"], await ReadEventAsync(reader));
        Assert.Null(await reader.ReadLineAsync());

        static async Task<string[]> ReadEventAsync(StreamReader reader)
        {
            var lines = new List<string>();
            while (await reader.ReadLineAsync() is { Length: > 0 } line)
                lines.Add(line);
            return [.. lines];
        }
    }

    [Fact]
    public async Task A_response_written_a_byte_at_a_time_reaches_the_client_a_byte_at_a_time()
    {
        const int bytes = 4;
        var sent = 0;
        var delivered = Enumerable.Range(0, bytes).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        await using var drip = await ScriptedBackend.StartAsync("drip", async context =>
        {
            if (context.Request.Path != "/drip")
            {
                await context.Response.WriteAsync("ready");
                return;
            }
            context.Response.ContentType = "application/octet-stream";
            for (var i = 0; i < bytes; i++)
            {
                // The next byte only once the client has the last one. A proxy that buffered would hold
                // the first back: give up waiting for the client after 10 s, and the test fails below.
                if (i > 0)
                    await Task.WhenAny(delivered[i - 1].Task, Task.Delay(10_000, context.RequestAborted));
                Volatile.Write(ref sent, i + 1);
                await context.Response.Body.WriteAsync("*"u8.ToArray(), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        });
        await fixture.ServiceAsync("drip", "drip.test", new { loadBalancing = "RoundRobin" }, ("drip", drip.Address, 1));
        (await Worker.WaitForStatusAsync("drip.test", "/", 200)).Dispose();

        using var response = await Worker.Client.SendAsync(WorkerRequests.Request(HttpMethod.Get, "drip.test", "/drip"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[16];
        for (var i = 0; i < bytes; i++)
        {
            Assert.Equal(1, await body.ReadAsync(buffer));
            Assert.Equal(i + 1, Volatile.Read(ref sent));
            delivered[i].SetResult();
        }
        Assert.Equal(0, await body.ReadAsync(buffer));
    }

    [Fact]
    public async Task A_stream_slower_than_idleSeconds_in_all_is_passed_on_but_one_idle_for_that_long_is_cut()
    {
        await fixture.ServiceAsync("idle", "idle.test", new { timeouts = new { idleSeconds = 3 }, retry = new { maxAttempts = 1, retryOn = Array.Empty<string>() } },
            ("httpbin", fixture.HttpBin.Address, 1));
        (await Worker.WaitForStatusAsync("idle.test", "/get", 200)).Dispose();

        // httpbin's drip: a byte every 0.8 s for 4 s, longer than the idle time-out in all but never idle that long.
        using (var response = await Worker.GetAsync("idle.test", "/drip?numbytes=5&duration=4"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("*****", await response.Content.ReadAsStringAsync());
        }

        // Two bytes 5 s apart: the stream is cut after the first, instead of hanging on.
        using (var response = await Worker.Client.SendAsync(WorkerRequests.Request(HttpMethod.Get, "idle.test", "/drip?numbytes=2&duration=10"), HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[16];
            Assert.Equal(1, await body.ReadAsync(buffer));
            await Assert.ThrowsAnyAsync<IOException>(async () =>
            {
                while (await body.ReadAsync(buffer) > 0)
                {
                }
            });
        }
    }

    [Fact]
    public async Task The_response_headers_time_out_stops_counting_once_headers_arrive()
    {
        await fixture.ServiceAsync("drip-headers", "drip-headers.test", new
        {
            timeouts = new { responseHeadersSeconds = 2, idleSeconds = 5 },
            retry = new { maxAttempts = 1, retryOn = Array.Empty<string>() },
        }, ("httpbin", fixture.HttpBin.Address, 1));
        (await Worker.WaitForStatusAsync("drip-headers.test", "/get", 200)).Dispose();

        // Headers at once, then 3 s between two bytes: longer than the headers time-out, shorter than the idle one.
        using (var response = await Worker.GetAsync("drip-headers.test", "/drip?numbytes=2&duration=6"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("**", await response.Content.ReadAsStringAsync());
        }
        using (var late = await Worker.GetAsync("drip-headers.test", "/delay/4"))
            await ProxyProblem.AssertAsync(late, 504, "backend-timeout", "drip-headers/main", "drip-headers/web");
    }

    [Fact]
    public async Task A_WebSocket_upgrade_is_proxied_and_echoes_both_ways()
    {
        await using var echo = await ScriptedBackend.StartAsync("ws", async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                await context.Response.WriteAsync("ready");
                return;
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[4096];
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                    return;
                }
                await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, CancellationToken.None);
            }
        });
        await fixture.ServiceAsync("websocket", "ws.test", new { loadBalancing = "RoundRobin" }, ("ws", echo.Address, 1));
        (await Worker.WaitForStatusAsync("ws.test", "/", 200)).Dispose();

        using var client = new ClientWebSocket();
        client.Options.SetRequestHeader("Host", "ws.test");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await client.ConnectAsync(new Uri(Worker.ProxyUrl.Replace("http://", "ws://", StringComparison.Ordinal) + "/chat"), timeout.Token);
        for (var i = 0; i < 3; i++)
        {
            var text = $"hello {i}";
            await client.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, timeout.Token);
            var buffer = new byte[4096];
            var received = await client.ReceiveAsync(buffer, timeout.Token);
            Assert.Equal(text, Encoding.UTF8.GetString(buffer, 0, received.Count));
        }
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
        Assert.Equal(WebSocketState.Closed, client.State);
    }

    [Fact]
    public async Task A_1_GiB_upload_and_a_1_GiB_download_pass_through_without_the_worker_holding_them_in_memory()
    {
        const long GiB = 1L << 30;
        await using var bulk = await ScriptedBackend.StartAsync("bulk", async context =>
        {
            var buffer = new byte[64 * 1024];
            if (HttpMethods.IsPost(context.Request.Method))
            {
                long total = 0;
                int read;
                while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
                    total += read;
                await context.Response.WriteAsync(total.ToString(CultureInfo.InvariantCulture));
                return;
            }
            var length = long.Parse(context.Request.Query["bytes"].ToString(), CultureInfo.InvariantCulture);
            context.Response.ContentLength = length;
            context.Response.ContentType = "application/octet-stream";
            for (var left = length; left > 0; left -= buffer.Length)
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, (int)Math.Min(left, buffer.Length)), context.RequestAborted);
        });
        await fixture.TenantAsync("bulk", "bulk.test");
        await fixture.ClusterAsync("bulk", "web", new { loadBalancing = "RoundRobin" }, ("bulk", bulk.Address, 1));
        await fixture.ServedAsync(await fixture.PutAsync("/v1/tenants/bulk/routes/main", new { match = new { pathPrefix = "/" }, cluster = "web", maxRequestBodyBytes = 2 * GiB }));
        (await Worker.WaitForStatusAsync("bulk.test", "/?bytes=1", 200)).Dispose();

        using var client = new HttpClient { BaseAddress = new Uri(Worker.ProxyUrl), Timeout = TimeSpan.FromMinutes(3) };
        // Warm up both directions, so that what is measured is the transfer and not the first use of its code.
        Assert.Equal(16L << 20, await UploadAsync(16L << 20));
        Assert.Equal(16L << 20, await DownloadAsync(16L << 20));
        var baseline = Worker.Process.ResidentBytes;
        var peak = baseline;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, Worker.Process.ResidentBytes);
                await Task.Delay(50);
            }
        });

        Assert.Equal(GiB, await UploadAsync(GiB));
        Assert.Equal(GiB, await DownloadAsync(GiB));
        await sampling.CancelAsync();
        await sampler;
        var growth = $"the worker's resident memory went from {baseline >> 20} MiB to at most {peak >> 20} MiB while 2 GiB passed through it";
        TestContext.Current.TestOutputHelper?.WriteLine(growth);
        Assert.True(peak - baseline < 100L << 20, growth);

        async Task<long> UploadAsync(long length)
        {
            using var request = WorkerRequests.Request(HttpMethod.Post, "bulk.test", "/sink", new GeneratedContent(length));
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
            return long.Parse(text, CultureInfo.InvariantCulture);
        }

        async Task<long> DownloadAsync(long length)
        {
            using var request = WorkerRequests.Request(HttpMethod.Get, "bulk.test", $"/source?bytes={length}");
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(length, response.Content.Headers.ContentLength);
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[64 * 1024];
            long total = 0;
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
                total += read;
            return total;
        }
    }

    /// <summary>A request body of a given length generated while it is sent, never held whole.</summary>
    private sealed class GeneratedContent(long length) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var chunk = new byte[64 * 1024];
            Array.Fill(chunk, (byte)'x');
            for (var left = length; left > 0; left -= chunk.Length)
                await stream.WriteAsync(chunk.AsMemory(0, (int)Math.Min(left, chunk.Length)));
        }

        protected override bool TryComputeLength(out long size)
        {
            size = length;
            return true;
        }
    }
}
