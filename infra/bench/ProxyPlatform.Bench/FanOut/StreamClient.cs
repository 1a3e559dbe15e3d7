using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.Resources;
using ConfigStreamRpc = ProxyPlatform.Protos.DataPlane.ConfigStream;

namespace ProxyPlatform.Bench.FanOut;

/// <summary>
/// A lightweight worker for the fan-out benchmark: one real configuration stream (its own HTTP/2
/// connection, a pool token, a Hello), every update decoded into the configuration model and applied
/// on top of the revision it names, then ACKed, and a heartbeat every 10 s, as a worker does. It runs
/// no proxy, so that a thousand of them fit in one process.
/// </summary>
public sealed class StreamClient : IAsyncDisposable
{
    private static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(10);

    private readonly GrpcChannel _channel;
    private readonly string _id;
    private readonly string _token;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly Dictionary<ResourceKey, object?> _model = [];
    // The revision of each ACK sent and when (a Stopwatch timestamp), oldest first; read under the lock.
    private readonly List<(long Revision, long At)> _acks = [];
    private readonly TaskCompletionSource _firstAck = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _running = Task.CompletedTask;
    private long _applied;

    public StreamClient(string grpcUrl, string id, string token)
    {
        _id = id;
        _token = token;
        // One connection per client, as every worker process has its own.
        _channel = GrpcChannel.ForAddress(grpcUrl, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false, PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan },
        });
    }

    /// <summary>The newest revision this client has ACKed.</summary>
    public long Acked => Interlocked.Read(ref _applied);

    /// <summary>How many resources the client's model holds.</summary>
    public int Resources { get; private set; }

    /// <summary>Why the stream ended, when it ended.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Opens the stream; completes once the first update is applied and ACKed.</summary>
    public Task StartAsync()
    {
        _running = RunAsync(_stop.Token);
        return _firstAck.Task.WaitAsync(TimeSpan.FromMinutes(2));
    }

    /// <summary>When this client first ACKed <paramref name="revision"/> or a later one (a Stopwatch timestamp), or null.</summary>
    public long? AckedAt(long revision)
    {
        lock (_acks)
        {
            foreach (var (acked, at) in _acks)
            {
                if (acked >= revision)
                    return at;
            }
            return null;
        }
    }

    private async Task RunAsync(CancellationToken ct)
    {
        try
        {
            var client = new ConfigStreamRpc.ConfigStreamClient(_channel);
            using var call = client.Connect(new Metadata { { "authorization", $"Bearer {_token}" } }, cancellationToken: ct);
            await WriteAsync(call.RequestStream, new WorkerMessage
            {
                Hello = new Hello { WorkerId = _id, Pool = "default", AppliedRevision = 0, Instance = Guid.NewGuid().ToString("N"), Version = "fanout-bench" },
            }, ct);
            var heartbeats = HeartbeatAsync(call.RequestStream, ct);
            await foreach (var message in call.ResponseStream.ReadAllAsync(ct))
            {
                if (message.KindCase != ControlMessage.KindOneofCase.Update)
                    continue;
                Apply(message.Update);
                await WriteAsync(call.RequestStream, new WorkerMessage { Ack = new Ack { Revision = message.Update.Revision } }, ct);
                var at = Stopwatch.GetTimestamp();
                lock (_acks)
                    _acks.Add((message.Update.Revision, at));
                Interlocked.Exchange(ref _applied, message.Update.Revision);
                _firstAck.TrySetResult();
            }
            await heartbeats;
            throw new InvalidOperationException($"The control plane ended {_id}'s stream.");
        }
        catch (Exception ex) when (ct.IsCancellationRequested && ex is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
        {
        }
        catch (Exception ex)
        {
            Failure = ex;
            _firstAck.TrySetException(ex);
        }
    }

    /// <summary>The worker's apply, without a proxy: a snapshot replaces the model, a delta must build on what it has.</summary>
    private void Apply(ConfigUpdate update)
    {
        if (update.BaseRevision == 0)
            _model.Clear();
        else if (update.BaseRevision != Interlocked.Read(ref _applied))
            throw new InvalidOperationException($"{_id}: update {update.Revision} builds on {update.BaseRevision}, but the client has {_applied}.");
        foreach (var upsert in update.Upserts)
        {
            if (!ResourceKinds.TryFromWire(upsert.Key, out var key, out var problem))
                throw new InvalidOperationException(problem);
            _model[key] = ResourceKinds.Of(key.Kind).Decode(upsert.SpecJson.Span);
        }
        foreach (var removal in update.Removals)
        {
            if (!ResourceKinds.TryFromWire(removal, out var key, out var problem))
                throw new InvalidOperationException(problem);
            _model.Remove(key);
        }
        Resources = _model.Count;
    }

    private async Task HeartbeatAsync(IClientStreamWriter<WorkerMessage> requests, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
                await WriteAsync(requests, new WorkerMessage { Heartbeat = new Heartbeat { AppliedRevision = Acked } }, ct);
        }
        catch (Exception ex) when (ex is OperationCanceledException or RpcException or InvalidOperationException)
        {
            // The stream ended; the reader reports why.
        }
    }

    /// <summary>A gRPC request stream takes one write at a time: ACKs and heartbeats take turns.</summary>
    private async Task WriteAsync(IClientStreamWriter<WorkerMessage> requests, WorkerMessage message, CancellationToken ct)
    {
        await _writing.WaitAsync(ct);
        try
        {
            await requests.WriteAsync(message, ct);
        }
        finally
        {
            _writing.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running;
        _channel.Dispose();
        _stop.Dispose();
        _writing.Dispose();
    }
}
