using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Infrastructure;

/// <summary>One platform (control plane + workers) for all tests of a class; each test uses its own tenant.</summary>
public abstract class PlatformFixture(int workers) : IAsyncLifetime
{
    public Platform Platform { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Platform = await Platform.StartAsync(GetType().Name.ToLowerInvariant(), workers);

    public async ValueTask DisposeAsync()
    {
        if (Platform is not null)
            await Platform.DisposeAsync();
    }
}

public sealed class OneWorkerPlatform() : PlatformFixture(1);

public sealed class ControlPlaneOnly() : PlatformFixture(0);
