using System.Text.Json.Nodes;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Scaling;

/// <summary>
/// The autoscaler with real processes and short windows: a worker's reported traffic raises the pool's
/// desired replicas, and its end lowers them again. The provider is None, so the figure observed is
/// the pool's <c>replicas</c> as the admin API shows it (the provider that acts on it is tested apart).
/// </summary>
public sealed class AutoscaleTests
{
    private static async Task<int> ReplicasAsync(Platform platform)
    {
        using var response = await platform.Admin.GetAsync("/v1/pools/default");
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return body["replicas"]!.GetValue<int>();
    }

    [Fact]
    public async Task Load_above_target_raises_the_pools_replicas_step_by_step_and_its_end_lowers_them_again()
    {
        await using var platform = await Platform.StartAsync("autoscale", workers: 0, silos: 1,
            "--Scaling:Provider=None", "--Scaling:Autoscale:UpWindowSeconds=1", "--Scaling:Autoscale:DownWindowSeconds=2", "--Scaling:Autoscale:IntervalSeconds=0.5");
        var worker = await platform.StartWorkerAsync("autoscale-1", 0, "--DataPlane:MetricsIntervalSeconds=0.5");
        await using var backend = await TestBackend.StartAsync("as");
        await platform.CreateServiceAsync("as", "as.test", [backend]);
        (await worker.WaitForStatusAsync("as.test", "/", 200)).Dispose();
        await platform.PutOkAsync("/v1/pools/default", new
        {
            replicas = 1,
            autoscale = new { minReplicas = 1, maxReplicas = 4, targetRequestsPerSecondPerReplica = 2 },
        });

        // Steady load, far above 2 requests/s per desired replica, until the pool reaches its maximum.
        using var stopLoad = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            while (!stopLoad.IsCancellationRequested)
            {
                using (await worker.GetAsync("as.test", "/"))
                {
                }
                await Task.Delay(10);
            }
        });
        var seen = new List<int>();
        try
        {
            await Eventually.Async(async () =>
            {
                var replicas = await ReplicasAsync(platform);
                if (seen.Count == 0 || seen[^1] != replicas)
                    seen.Add(replicas);
                return replicas == 4;
            }, TimeSpan.FromMinutes(2), () => $"replicas went {string.Join(" → ", seen)}, not to 4\n{platform.Silos[0].Process.Output}");
        }
        finally
        {
            await stopLoad.CancelAsync();
            await load;
        }
        // Never more than doubled at once: 1 → 2 → 4.
        Assert.Equal([1, 2, 4], seen);

        // Without traffic the worker stops reporting; once its last rate is stale, the pool shrinks to its minimum.
        await Eventually.Async(async () => await ReplicasAsync(platform) == 1, TimeSpan.FromMinutes(2),
            () => $"replicas stayed above 1\n{platform.Silos[0].Process.Output}");
        Assert.Contains("Autoscaler (actor autoscaler) scales pool default from 4 to 2 replicas", platform.Silos[0].Process.Output, StringComparison.Ordinal);
        // The actor and action went with the grain call (Orleans RequestContext) to where the pool's change is committed.
        Assert.Contains("replicas 4, by autoscaler (scale)", platform.Silos[0].Process.Output, StringComparison.Ordinal);
        Assert.Contains("replicas 2, by autoscaler (scale)", platform.Silos[0].Process.Output, StringComparison.Ordinal);
    }
}
