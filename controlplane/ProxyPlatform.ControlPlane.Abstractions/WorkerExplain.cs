namespace ProxyPlatform.ControlPlane;

/// <summary>
/// A control-plane node's worker streams, as other nodes reach them: one observer per node, handed to
/// each worker's grain when the worker connects, so that a question for a worker (explain, ?worker=)
/// goes to the node that holds its stream.
/// </summary>
public interface IWorkerStreams : IGrainObserver
{
    /// <summary>
    /// Asks the worker (the run <paramref name="instance"/> of it) to explain a request of
    /// <paramref name="tenant"/> from its applied configuration: JSON of <c>RequestExplanation</c>. Fails with
    /// <see cref="AdminErrorKind.Timeout"/> when the worker's stream is not on this node any more or the worker
    /// does not answer within <paramref name="timeout"/>.
    /// </summary>
    Task<byte[]> Explain(string worker, string instance, string tenant, byte[] queryJson, TimeSpan timeout);
}

/// <summary>Where a connected worker's stream is held: the node's observer, and the worker's run.</summary>
[GenerateSerializer, Immutable, Alias("pp.WorkerStreamRef")]
public sealed record WorkerStreamRef([property: Id(0)] IWorkerStreams Node, [property: Id(1)] string Instance, [property: Id(2)] string Pool);
