using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ProxyPlatform.EndToEnd.Tests.Proxy;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Health;

/// <summary>
/// What the health tests ask of a platform: services with health-checked clusters, and the admin
/// API's view of their backends and verdict history. They run on the proxy tests' platform
/// (<see cref="ProxyFixture"/>), so the suite starts no extra processes beyond the partitioned worker.
/// </summary>
public sealed class HealthPlatform(Platform platform)
{
    public Platform Platform { get; } = platform;

    /// <summary>Creates tenant <paramref name="tenant"/> owning <paramref name="host"/>, cluster <c>web</c> with the backends, and a route to it; returns once every worker of the platform serves it.</summary>
    public async Task ServiceAsync(string tenant, string host, object clusterSpec, params (string Name, string Address)[] backends)
    {
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { host } });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web", clusterSpec);
        foreach (var (name, address) in backends)
            await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/{name}", new { address });
        await ServedAsync(await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/main", new { match = new { pathPrefix = "/" }, cluster = "web" }));
    }

    public async Task ServedAsync(long revision)
    {
        foreach (var worker in Platform.Workers)
            await worker.WaitForRevisionAsync(revision);
    }

    /// <summary>The cluster's backends as <c>GET …/backends</c> lists them, by ID.</summary>
    public async Task<Dictionary<string, JsonElement>> BackendsAsync(string tenant)
    {
        var text = await Platform.Admin.GetStringAsync($"/v1/tenants/{tenant}/clusters/web/backends");
        return JsonDocument.Parse(text).RootElement.GetProperty("items").EnumerateArray()
            .ToDictionary(b => b.GetProperty("id").GetString()!, b => b.Clone());
    }

    /// <summary>Polls the backends list until <paramref name="condition"/> holds; fails with the last list after <paramref name="timeout"/>.</summary>
    public Task<Dictionary<string, JsonElement>> WaitForBackendsAsync(string tenant, Func<Dictionary<string, JsonElement>, bool> condition, TimeSpan timeout) =>
        Eventually.Async(() => BackendsAsync(tenant), condition, timeout,
            backends => $"the backends of {tenant}/web never reached the expected state:\n{JsonSerializer.Serialize(backends)}\n--- control plane ---\n{Platform.Silos[0].Process.Output}");

    public static string Verdict(JsonElement backend) => backend.GetProperty("health").GetProperty("verdict").GetString()!;

    /// <summary>Each worker's view of the backend (<c>passing</c>, <c>failing</c>, <c>unknown</c>), by worker ID.</summary>
    public static Dictionary<string, string> Views(JsonElement backend) =>
        backend.GetProperty("health").GetProperty("workers").EnumerateArray()
            .ToDictionary(w => w.GetProperty("worker").GetString()!, w => w.GetProperty("view").GetString()!);

    /// <summary>The backend's verdict changes, newest first.</summary>
    public async Task<JsonElement[]> HistoryAsync(string tenant, string backend)
    {
        var text = await Platform.Admin.GetStringAsync($"/v1/tenants/{tenant}/clusters/web/backends/{backend}/health-history");
        return [.. JsonDocument.Parse(text).RootElement.GetProperty("items").EnumerateArray().Select(e => e.Clone())];
    }

}

/// <summary>
/// A real backend whose health check the test switches between passing and failing while it keeps
/// serving traffic. It answers every other request with its name (after <c>?ms=</c> milliseconds,
/// or, on <see cref="HeldPath"/>, once the test calls <see cref="ReleaseHeld"/>), counts them apart
/// from probes, and resets connections from <see cref="Refused"/> source addresses.
/// </summary>
public sealed class SwitchableBackend : IAsyncDisposable
{
    public const string HealthPath = "/status/200";
    public const string HeldPath = "/held";

    private ScriptedBackend _backend = null!;
    private int _traffic;
    private volatile bool _failing;
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Name { get; private init; } = "";
    public string Address => _backend.Address;
    public int Traffic => Volatile.Read(ref _traffic);
    public bool Failing { get => _failing; set => _failing = value; }
    public IPAddress? Refused { get; init; }

    /// <summary>Lets the requests held on <see cref="HeldPath"/> be answered, and every later one at once.</summary>
    public void ReleaseHeld() => _release.TrySetResult();

    public static async Task<SwitchableBackend> StartAsync(string name, IPAddress? refused = null)
    {
        var backend = new SwitchableBackend { Name = name, Refused = refused };
        backend._backend = await ScriptedBackend.StartAsync(name, backend.HandleAsync);
        return backend;
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (Refused is not null && Refused.Equals(context.Connection.RemoteIpAddress))
        {
            context.Abort();
            return;
        }
        if (context.Request.Path == HealthPath)
        {
            context.Response.StatusCode = _failing ? 503 : 200;
            return;
        }
        Interlocked.Increment(ref _traffic);
        if (int.TryParse(context.Request.Query["ms"], out var ms))
            await Task.Delay(ms, context.RequestAborted);
        if (context.Request.Path == HeldPath)
            await _release.Task.WaitAsync(context.RequestAborted);
        await context.Response.WriteAsync(Name);
    }

    public ValueTask DisposeAsync()
    {
        ReleaseHeld();
        return _backend.DisposeAsync();
    }
}
