namespace ProxyPlatform.DataPlane.Tests.Infrastructure;

/// <summary>A directory for one test's files, deleted with everything in it afterwards.</summary>
public sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("proxyplatform-dataplane-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
