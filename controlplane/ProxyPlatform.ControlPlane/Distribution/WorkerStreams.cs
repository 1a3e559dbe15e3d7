using System.Collections.Concurrent;
using Google.Protobuf;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// The worker streams this node holds, reachable from any node through one observer
/// (<see cref="Reference"/>) that each worker's grain keeps while the worker is connected here. A
/// question for a worker is written on its stream and the answer awaited, correlated by an ID.
/// </summary>
/// <remarks>
/// Observers are held by this object only while it lives; it is a singleton of the node, so the
/// reference stays valid until the node stops. A worker's grain that re-activates elsewhere loses it
/// until the worker reconnects; a question then answers "not reachable".
/// </remarks>
public sealed class WorkerStreams(IGrainFactory grains) : IWorkerStreams
{
    /// <summary>Questions one worker may have outstanding at once; past this a question is refused as busy.</summary>
    public const int MaxPendingPerWorker = 16;
    /// <summary>The largest answer taken from a worker.</summary>
    public const int MaxAnswerBytes = 4 * 1024 * 1024;

    private readonly ConcurrentDictionary<string, Stream> _streams = new(StringComparer.Ordinal);
    private IWorkerStreams? _reference;

    /// <summary>This node's observer, created on first use.</summary>
    public IWorkerStreams Reference => LazyInitializer.EnsureInitialized(ref _reference, () => grains.CreateObjectReference<IWorkerStreams>(this));

    /// <summary>Makes a worker's stream reachable; disposing the result (when the stream ends) removes it.</summary>
    public IDisposable Register(string worker, string instance, Func<ControlMessage, CancellationToken, Task> send)
    {
        var stream = new Stream(instance, send);
        _streams[worker] = stream;
        return new Registration(this, worker, stream);
    }

    /// <summary>A worker's answer, read from its stream.</summary>
    public void Answered(string worker, ExplainAnswer answer)
    {
        if (_streams.TryGetValue(worker, out var stream) && stream.Pending.TryRemove(answer.Id, out var waiting))
            waiting.TrySetResult(answer);
    }

    public async Task<byte[]> Explain(string worker, string instance, string tenant, byte[] queryJson, TimeSpan timeout)
    {
        if (!_streams.TryGetValue(worker, out var stream) || stream.Instance != instance)
            throw AdminException.Timeout($"Worker '{worker}' is not reachable: its stream has just ended or moved to another control-plane node; try again.");
        if (stream.Pending.Count >= MaxPendingPerWorker)
            throw AdminException.Busy($"Worker '{worker}' has {MaxPendingPerWorker} questions outstanding; try again shortly.");
        var id = Guid.NewGuid().ToString("N");
        var waiting = new TaskCompletionSource<ExplainAnswer>(TaskCreationOptions.RunContinuationsAsynchronously);
        stream.Pending[id] = waiting;
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await stream.Send(new ControlMessage { Explain = new ExplainRequest { Id = id, Tenant = tenant, QueryJson = ByteString.CopyFrom(queryJson) } }, deadline.Token);
            var answer = await waiting.Task.WaitAsync(deadline.Token);
            if (answer.Error.Length > 0)
                throw AdminException.Timeout($"Worker '{worker}' could not answer: {(answer.Error.Length > 512 ? answer.Error[..512] + "…" : answer.Error)}");
            if (answer.AnswerJson.Length is 0 or > MaxAnswerBytes)
                throw AdminException.Timeout($"Worker '{worker}' sent no usable answer.");
            return answer.AnswerJson.ToByteArray();
        }
        catch (OperationCanceledException)
        {
            throw AdminException.Timeout(deadline.IsCancellationRequested
                ? $"Worker '{worker}' did not answer within {timeout.TotalSeconds:0.#} s."
                : $"Worker '{worker}''s stream ended before it answered.");
        }
        finally
        {
            stream.Pending.TryRemove(id, out _);
        }
    }

    private sealed class Stream(string instance, Func<ControlMessage, CancellationToken, Task> send)
    {
        public string Instance { get; } = instance;
        public Func<ControlMessage, CancellationToken, Task> Send { get; } = send;
        public ConcurrentDictionary<string, TaskCompletionSource<ExplainAnswer>> Pending { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Registration(WorkerStreams owner, string worker, Stream stream) : IDisposable
    {
        public void Dispose()
        {
            owner._streams.TryRemove(new KeyValuePair<string, Stream>(worker, stream));
            foreach (var waiting in stream.Pending.Values)
                waiting.TrySetCanceled();
        }
    }
}
