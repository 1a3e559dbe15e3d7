using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Metrics;

/// <summary>
/// One platform for the metrics tests: a control-plane silo and two workers that report every
/// second, the first writing JSON logs with YARP's per-request lines on; and two backends that
/// answer the status a path asks for (<c>/status/404</c>) and count what they answered by status class.
/// </summary>
public sealed class MetricsFixture : IAsyncLifetime
{
    public Platform Platform { get; private set; } = null!;
    public Worker First { get; private set; } = null!;
    public Worker Second { get; private set; } = null!;
    public CountingBackend A { get; private set; } = null!;
    public CountingBackend B { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        A = await CountingBackend.StartAsync("a");
        B = await CountingBackend.StartAsync("b");
        Platform = await Platform.StartAsync("metrics", workers: 0);
        First = await Platform.StartWorkerAsync("metrics-1", 0, "--DataPlane:MetricsIntervalSeconds=1",
            "--Logging:Console:FormatterName=json", "--Logging:LogLevel:Yarp.ReverseProxy.Forwarder=Information");
        Second = await Platform.StartWorkerAsync("metrics-2", 0, "--DataPlane:MetricsIntervalSeconds=1");
    }

    /// <summary>
    /// A tenant owning <paramref name="host"/> with one cluster, <c>web</c> (backends a and b, round robin),
    /// and two routes to it, <c>api</c> (<c>/api</c>) and <c>site</c> (<c>/</c>); returns once both workers serve it.
    /// </summary>
    public async Task ServiceAsync(string tenant, string host)
    {
        await Platform.PutOkAsync($"/v1/tenants/{tenant}", new { displayName = tenant, hostnames = new[] { host } });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web", new { loadBalancing = "RoundRobin" });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/a", new { address = A.Address });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/b", new { address = B.Address });
        await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/api", new { match = new { pathPrefix = "/api" }, cluster = "web" });
        var revision = await Platform.PutOkAsync($"/v1/tenants/{tenant}/routes/site", new { match = new { pathPrefix = "/" }, cluster = "web" });
        await First.WaitForRevisionAsync(revision);
        await Second.WaitForRevisionAsync(revision);
    }

    /// <summary>Sends GETs for <paramref name="path"/> through <paramref name="worker"/> and checks each got <paramref name="status"/>.</summary>
    public static async Task SendAsync(Worker worker, string host, string path, int status, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var response = await worker.GetAsync(host, path);
            Assert.Equal(status, (int)response.StatusCode);
        }
    }

    /// <summary><c>GET /v1/tenants/{tenant}/metrics</c>, polled until <paramref name="done"/> holds; returns that answer.</summary>
    public Task<JsonNode> MetricsWhenAsync(string tenant, Func<JsonNode, bool> done, TimeSpan? timeout = null) =>
        Eventually.Async(async () =>
        {
            using var response = await Platform.Silos[0].Admin.GetAsync($"/v1/tenants/{tenant}/metrics");
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"GET metrics answered {(int)response.StatusCode}: {text}");
            return JsonNode.Parse(text)!;
        }, done, timeout, metrics => $"the metrics of {tenant} are still {metrics.ToJsonString()}");

    public static long Count(JsonNode? summary, string statusClass) => summary?["byStatusClass"]?[statusClass]?.GetValue<long>() ?? 0;

    public static JsonNode? Route(JsonNode metrics, string route) =>
        metrics["routes"]!.AsArray().FirstOrDefault(r => r!["route"]!.GetValue<string>() == route)?["traffic"];

    public static JsonNode? Backend(JsonNode metrics, string backend) =>
        metrics["backends"]!.AsArray().FirstOrDefault(b => b!["cluster"]!.GetValue<string>() == "web" && b["backend"]!.GetValue<string>() == backend)?["traffic"];

    public static JsonNode? WorkerOf(JsonNode metrics, string worker) =>
        metrics["workers"]!.AsArray().FirstOrDefault(w => w!["worker"]!.GetValue<string>() == worker)?["traffic"];

    /// <summary>Sums the samples of a Prometheus metric whose labels include every one of <paramref name="labels"/>.</summary>
    public static double Scraped(string text, string metric, params (string Name, string Value)[] labels)
    {
        double sum = 0;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(metric + "{", StringComparison.Ordinal))
                continue;
            var close = line.LastIndexOf('}');
            var labelText = line[(metric.Length + 1)..close];
            if (labels.All(l => labelText.Contains($"{l.Name}=\"{l.Value}\"", StringComparison.Ordinal)))
                sum += double.Parse(line[(close + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        return sum;
    }

    public async ValueTask DisposeAsync()
    {
        if (Platform is not null)
            await Platform.DisposeAsync();
        if (A is not null)
            await A.DisposeAsync();
        if (B is not null)
            await B.DisposeAsync();
    }
}

/// <summary>A backend that answers <c>/…/status/{code}</c> with that code (200 otherwise) and counts its answers per <c>?t=</c> tag and status class.</summary>
public sealed class CountingBackend : IAsyncDisposable
{
    private readonly ConcurrentDictionary<(string Host, string Class), int> _answers = new();
    private ScriptedBackend _backend = null!;

    public string Name { get; private init; } = "";
    public string Address => _backend.Address;

    public static async Task<CountingBackend> StartAsync(string name)
    {
        var counting = new CountingBackend { Name = name };
        counting._backend = await ScriptedBackend.StartAsync(name, async context =>
        {
            var path = context.Request.Path.Value ?? "";
            var at = path.LastIndexOf("/status/", StringComparison.Ordinal);
            var status = at >= 0 ? int.Parse(path[(at + "/status/".Length)..], CultureInfo.InvariantCulture) : 200;
            counting._answers.AddOrUpdate((context.Request.Query["t"].ToString(), $"{status / 100}xx"), 1, (_, n) => n + 1);
            context.Response.StatusCode = status;
            if (context.Request.Query.ContainsKey("chunked"))
            {
                // Reads the whole request body, and answers in two flushed parts: chunked, with no Content-Length.
                await context.Request.Body.CopyToAsync(Stream.Null);
                await context.Response.WriteAsync($"{name} ");
                await context.Response.Body.FlushAsync();
                await context.Response.WriteAsync($"{status}");
                return;
            }
            await context.Response.WriteAsync($"{name} {status}");
        });
        return counting;
    }

    /// <summary>How many answers of <paramref name="statusClass"/> (e.g. <c>2xx</c>) went to requests tagged <c>?t=</c><paramref name="tag"/>.</summary>
    public int Answered(string tag, string statusClass) => _answers.GetValueOrDefault((tag, statusClass));

    public ValueTask DisposeAsync() => _backend.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class MetricsCollection : ICollectionFixture<MetricsFixture>
{
    public const string Name = "metrics";
}
