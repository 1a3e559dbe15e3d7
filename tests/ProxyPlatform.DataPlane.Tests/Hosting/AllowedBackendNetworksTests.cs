using System.Net;
using System.Text.Json;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Tests.Infrastructure;
using ProxyPlatform.Testing;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.Resources;

namespace ProxyPlatform.DataPlane.Tests.Hosting;

/// <summary>
/// A real worker whose pool allows backends in a documentation range only, serving a backend named by
/// this machine's host name: the name passes every check made when it is written, and is refused
/// where it is resolved.
/// </summary>
public sealed class AllowedBackendNetworksTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_backend_whose_host_name_resolves_outside_the_pools_networks_gets_502_backend_not_allowed_and_no_request()
    {
        await using var backend = await TestBackend.StartAsync("local");
        var host = Dns.GetHostName().ToLowerInvariant();
        var addresses = await Dns.GetHostAddressesAsync(host, Cancel);
        // A documentation range this machine's name does not resolve into.
        var allowed = new[] { "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24" }.First(n => !addresses.Any(a => IPNetwork.Parse(n).Contains(a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a)));
        using var dataDir = new TempDirectory();
        await LastKnownGoodWorker.WriteLastKnownGoodAsync(dataDir.Path, Snapshot(5,
            Pool(new PoolSpec { Limits = new PoolLimits { AllowedBackendNetworks = [allowed] } }, 5),
            Tenant("acme", new TenantSpec { Hostnames = ["acme.test"] }, 5),
            Cluster("acme", "web", new ClusterDefinition
            {
                Spec = new ClusterSpec { Retry = new RetrySpec { MaxAttempts = 1, RetryOn = [] } },
                Backends = new Dictionary<string, BackendSpec> { ["a"] = new() { Address = $"http://{host}:{backend.Port}" } },
            }, 5),
            Route("acme", "all", new RouteSpec { Cluster = "web" }, 5)));
        await using var worker = await InProcessWorker.StartAsync(dataDir.Path, InProcessWorker.UnreachableControlPlane());

        using var response = await worker.GetAsync("acme.test", "/x");

        var text = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.BadGateway, text);
        using var problem = JsonDocument.Parse(text);
        Assert.Equal("https://proxyplatform.dev/problems/backend-not-allowed", problem.RootElement.GetProperty("type").GetString());
        Assert.Equal(0, backend.Requests);
    }
}
