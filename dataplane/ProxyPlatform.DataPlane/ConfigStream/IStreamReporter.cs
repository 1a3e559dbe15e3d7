using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.ConfigStream;

/// <summary>
/// Something the worker reports to the control plane on the configuration stream (health probe
/// results, traffic metrics). <see cref="ConfigStreamClient"/> runs every registered reporter for
/// as long as each stream is open.
/// </summary>
public interface IStreamReporter
{
    /// <summary>
    /// Reports until <paramref name="streamClosed"/> is cancelled. A new stream may go to another
    /// control-plane node, so a reporter says everything the control plane needs again on each one.
    /// </summary>
    Task RunAsync(Func<WorkerMessage, CancellationToken, Task> send, CancellationToken streamClosed);
}
