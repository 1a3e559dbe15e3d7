using Microsoft.Extensions.DependencyInjection;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Hosting;

namespace ProxyPlatform.DataPlane.Tests.Infrastructure;

/// <summary>
/// What turns updates into the served configuration (the compiler, the applier, the last-known-good
/// file and its saver) from the worker's own service registrations, over one data folder; one per
/// worker run, so a second over the same folder is a restart.
/// </summary>
public sealed class WorkerConfiguration : IDisposable
{
    private readonly ServiceProvider _services;

    public WorkerConfiguration(string dataDir, long? maxRequestBodyBytes = null)
    {
        _services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(new DataPlaneOptions { WorkerId = "test", DataDir = dataDir, MaxRequestBodyBytes = maxRequestBodyBytes })
            .AddProxyConfiguration()
            .BuildServiceProvider();
    }

    public ConfigApplier Applier => _services.GetRequiredService<ConfigApplier>();
    public SnapshotCompiler Compiler => _services.GetRequiredService<SnapshotCompiler>();
    public DataPlane.Clusters.BackendConnector Connector => _services.GetRequiredService<DataPlane.Clusters.BackendConnector>();
    public LastKnownGood LastKnownGood => _services.GetRequiredService<LastKnownGood>();
    public LastKnownGoodSaver Saver => _services.GetRequiredService<LastKnownGoodSaver>();
    public DataPlane.Tls.SniCertificateSelector Selector => _services.GetRequiredService<DataPlane.Tls.SniCertificateSelector>();

    public void Dispose() => _services.Dispose();
}
