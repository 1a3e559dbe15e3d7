using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Scaling;

/// <summary>A worker that drains closes the WebSockets it tunnels with a Close frame both ways, never with a reset.</summary>
public sealed class DrainWebSocketTests
{
    [Fact]
    public async Task A_worker_scaled_away_sends_its_WebSocket_client_and_backend_a_close_frame_1001_going_away()
    {
        var backendSaw = new TaskCompletionSource<WebSocketCloseStatus?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var echo = await ScriptedBackend.StartAsync("ws", async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                await context.Response.WriteAsync("ready");
                return;
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[4096];
            try
            {
                while (true)
                {
                    var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
                    if (received.MessageType == WebSocketMessageType.Close)
                    {
                        backendSaw.TrySetResult(socket.CloseStatus);
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                        return;
                    }
                    await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, CancellationToken.None);
                }
            }
            catch (Exception ex)
            {
                backendSaw.TrySetException(ex);
            }
        });
        await using var workers = await ProcessWorkers.StartAsync("drain-ws", drainSeconds: 1);
        var platform = workers.Platform;
        await platform.PutOkAsync("/v1/tenants/wsdrain", new { displayName = "wsdrain", hostnames = new[] { "wsdrain.test" } });
        await platform.PutOkAsync("/v1/tenants/wsdrain/clusters/web", new { loadBalancing = "RoundRobin" });
        await platform.PutOkAsync("/v1/tenants/wsdrain/clusters/web/backends/ws", new { address = echo.Address });
        await platform.PutOkAsync("/v1/tenants/wsdrain/routes/main", new { match = new { pathPrefix = "/" }, cluster = "web" });
        await workers.ScaleAsync(1);
        var url = Assert.Single(ProcessWorkers.ReadyProxyUrls(await workers.WaitReadyAsync(1)));
        using (var http = new HttpClient())
            await Eventually.Async(async () =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{url}/") { Headers = { Host = "wsdrain.test" } };
                using var response = await http.SendAsync(request);
                return (int)response.StatusCode;
            }, status => status == 200, TimeSpan.FromSeconds(60), status => $"the route answers {status}");

        using var client = new ClientWebSocket();
        client.Options.SetRequestHeader("Host", "wsdrain.test");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await client.ConnectAsync(new Uri(url.Replace("http://", "ws://", StringComparison.Ordinal) + "/chat"), timeout.Token);
        var buffer = new byte[4096];
        await client.SendAsync(Encoding.UTF8.GetBytes("hello"), WebSocketMessageType.Text, true, timeout.Token);
        var echoed = await client.ReceiveAsync(buffer, timeout.Token);
        Assert.Equal("hello", Encoding.UTF8.GetString(buffer, 0, echoed.Count));

        await workers.ScaleAsync(0);
        // The worker drains, then closes: the client's next receive is the Close frame, not a reset.
        var received = await client.ReceiveAsync(buffer, timeout.Token);
        Assert.Equal(WebSocketMessageType.Close, received.MessageType);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, client.CloseStatus);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await backendSaw.Task.WaitAsync(timeout.Token));
        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "ok", timeout.Token);
        await workers.WaitReadyAsync(0);
    }
}
