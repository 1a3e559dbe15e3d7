using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Testing;

namespace ProxyPlatform.Storage.Tests.Membership;

/// <summary>Real in-process silos (and a client) whose cluster membership lives in PostgreSQL.</summary>
public sealed class ClusteringSiloTests(MembershipDatabase database) : IClassFixture<MembershipDatabase>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private readonly NpgsqlDataSource _db = database.DataSource;

    private static string NewClusterId() => $"cluster-{Guid.NewGuid():N}";

    private static ClusterOptions Cluster(ClusterOptions options, string clusterId)
    {
        options.ClusterId = clusterId;
        options.ServiceId = "proxyplatform-tests";
        return options;
    }

    private async Task<Running> StartSiloAsync(string clusterId)
    {
        // Orleans advertises these before it binds them, so they cannot be 0: reserved ones instead.
        var siloPort = ReservedPorts.Take();
        var gatewayPort = ReservedPorts.Take();
        var host = Host.CreateDefaultBuilder()
            .ConfigureLogging(logging => logging.ClearProviders())
            .UseOrleans(silo => silo
                .UseNpgsqlClustering(_db)
                .Configure<ClusterOptions>(options => Cluster(options, clusterId))
                .ConfigureEndpoints(IPAddress.Loopback, siloPort, gatewayPort)
                // Read the table every second rather than every minute, so a change a silo missed
                // in gossip still reaches it quickly.
                .Configure<ClusterMembershipOptions>(options => options.TableRefreshTimeout = TimeSpan.FromSeconds(1)))
            .Build();
        return await Running.StartAsync(host);
    }

    private async Task<Running> StartClientAsync(string clusterId)
    {
        var host = Host.CreateDefaultBuilder()
            .ConfigureLogging(logging => logging.ClearProviders())
            .UseOrleansClient(client => client
                .UseNpgsqlClustering(_ => _db)
                .Configure<ClusterOptions>(options => Cluster(options, clusterId)))
            .Build();
        return await Running.StartAsync(host);
    }

    private static async Task<int> ActiveSilosSeenByAsync(Running host) =>
        (await host.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true, Cancel)).Count;

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what) => Eventually.Async(condition, null, () => what);

    [Fact]
    public async Task Two_silos_on_one_database_form_one_cluster_and_the_survivor_sees_a_graceful_leave()
    {
        var clusterId = NewClusterId();
        await using var first = await StartSiloAsync(clusterId);
        await using var second = await StartSiloAsync(clusterId);

        await WaitUntilAsync(async () => await ActiveSilosSeenByAsync(first) == 2, "the first silo sees two active silos");
        await WaitUntilAsync(async () => await ActiveSilosSeenByAsync(second) == 2, "the second silo sees two active silos");
        // One cluster, not two views of one table: the first silo's management grain asks both silos.
        var management = first.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        var hosts = (await management.GetHosts(onlyActive: true, Cancel)).Keys.ToArray();
        Assert.Equal(2, (await management.GetRuntimeStatistics(hosts, Cancel)).Length);

        await second.StopAsync();

        await WaitUntilAsync(async () => await ActiveSilosSeenByAsync(first) == 1, "the first silo sees one active silo");
        var table = await new NpgsqlMembershipTable(_db, clusterId).ReadAllAsync(Cancel);
        Assert.Equal(
            [SiloStatus.Active, SiloStatus.Dead],
            table.Members.Select(m => m.Item1.Status).Order());
    }

    [Fact]
    public async Task A_client_finds_the_cluster_through_the_gateways_in_the_database()
    {
        var clusterId = NewClusterId();
        await using var silo = await StartSiloAsync(clusterId);
        await using var client = await StartClientAsync(clusterId);

        Assert.Equal(1, await ActiveSilosSeenByAsync(client));
    }

    /// <summary>A started host that is stopped (gracefully) and disposed however the test ends.</summary>
    private sealed class Running(IHost host) : IAsyncDisposable
    {
        private bool _stopped;

        public IServiceProvider Services => host.Services;

        public static async Task<Running> StartAsync(IHost host)
        {
            try
            {
                await host.StartAsync(Cancel);
                return new Running(host);
            }
            catch
            {
                host.Dispose();
                throw;
            }
        }

        public async Task StopAsync()
        {
            if (_stopped)
                return;
            _stopped = true;
            await host.StopAsync(CancellationToken.None);
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await StopAsync();
            }
            finally
            {
                host.Dispose();
            }
        }
    }
}
