using System.Net;
using Microsoft.AspNetCore.Http;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Proxy;

/// <summary>A backend that stops answering (as a SIGSTOPped process does) while the cluster retries on 504.</summary>
[Collection(ProxyCollection.Name)]
public sealed class HangingBackendRetryTests(ProxyFixture fixture)
{
    private Worker Worker => fixture.Edge;

    [Fact]
    public async Task A_cluster_that_retries_on_504_also_retries_a_GET_its_hung_backend_never_answered()
    {
        var hung = false;
        await using var hanging = await ScriptedBackend.StartAsync("hanging", async context =>
        {
            if (Volatile.Read(ref hung))
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            await context.Response.WriteAsync("hanging");
        });
        await using var live = await ScriptedBackend.StartAsync("live", context => context.Response.WriteAsync("live"));
        await fixture.ServiceAsync("retry-hung", "retry-hung.test", new
        {
            loadBalancing = "RoundRobin",
            retry = new { maxAttempts = 3, retryOn = new[] { "connect-failure", "reset", "502", "503", "504" } },
            timeouts = new { responseHeadersSeconds = 1 },
        }, ("hanging", hanging.Address, 1), ("live", live.Address, 1));
        (await Worker.WaitForStatusAsync("retry-hung.test", "/", 200)).Dispose();

        // The backend stops answering: connections are still accepted, nothing comes back.
        Volatile.Write(ref hung, true);
        var before = hanging.Requests;
        var answers = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await Worker.GetAsync("retry-hung.test", $"/{i}");
            var body = await response.Content.ReadAsStringAsync();
            answers.Add($"{(int)response.StatusCode} {body}");
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET /{i} answered {(int)response.StatusCode}: {body}");
            Assert.Equal("live", body);
        }
        // Round robin sent some of them to the hung backend first: those were the ones retried.
        Assert.True(hanging.Requests > before, $"no GET went to the hung backend: {string.Join(", ", answers)}");
    }
}
