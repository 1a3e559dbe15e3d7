using Grpc.Core;
using ProxyPlatform.Configuration;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// The data-plane end of the configuration stream: after the worker's Hello it sends what the
/// worker lacks (a delta from its revision, or a snapshot), then every change of the pool,
/// coalescing changes that arrive while a send is in progress into one update.
/// </summary>
public sealed class ConfigStreamService(PoolFeeds feeds, ILogger<ConfigStreamService> logger) : ConfigStream.ConfigStreamBase
{
    public override async Task Connect(IAsyncStreamReader<WorkerMessage> requestStream, IServerStreamWriter<ControlMessage> responseStream, ServerCallContext context)
    {
        if (!await requestStream.MoveNext(context.CancellationToken) || requestStream.Current.KindCase != WorkerMessage.KindOneofCase.Hello)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "The first message on the stream must be a Hello."));
        var hello = requestStream.Current.Hello;
        if (string.IsNullOrWhiteSpace(hello.WorkerId) || hello.WorkerId.Length > 253)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "hello.workerId: is required (at most 253 characters)."));
        var pool = string.IsNullOrEmpty(hello.Pool) ? Pools.Default : hello.Pool;
        if (!ConfigValidator.IsValidId(pool))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"hello.pool: '{pool}' is not a valid pool ID."));

        var feed = await feeds.GetAsync(pool);
        using var stream = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var reading = ReadAsync(requestStream, hello, stream);
        logger.LogInformation("Worker {Worker} connected for pool {Pool} at revision {Revision}", hello.WorkerId, pool, hello.AppliedRevision);
        try
        {
            var sent = hello.AppliedRevision;
            var first = true;
            while (!stream.IsCancellationRequested)
            {
                // A worker that has never had a configuration gets a snapshot even of an empty pool.
                var update = feed.BuildUpdate(sent, forceFull: first && sent == 0);
                first = false;
                if (update is not null)
                {
                    await responseStream.WriteAsync(new ControlMessage { Update = update }, stream.Token);
                    sent = update.Revision;
                }
                await feed.WaitForChangeAsync(sent, stream.Token);
            }
        }
        catch (OperationCanceledException) when (stream.IsCancellationRequested)
        {
        }
        finally
        {
            await stream.CancelAsync();
            await reading;
            logger.LogInformation("Worker {Worker} disconnected from pool {Pool}", hello.WorkerId, pool);
        }
    }

    private async Task ReadAsync(IAsyncStreamReader<WorkerMessage> requests, Hello hello, CancellationTokenSource stream)
    {
        try
        {
            while (await requests.MoveNext(stream.Token))
            {
                var message = requests.Current;
                switch (message.KindCase)
                {
                    case WorkerMessage.KindOneofCase.Ack:
                        logger.LogDebug("Worker {Worker} applied revision {Revision}", hello.WorkerId, message.Ack.Revision);
                        break;
                    case WorkerMessage.KindOneofCase.Nack:
                        logger.LogWarning("Worker {Worker} rejected revision {Revision}: {Reason}", hello.WorkerId, message.Nack.Revision, message.Nack.Reason);
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException || ex is IOException || (ex is RpcException rpc && rpc.StatusCode == StatusCode.Cancelled))
        {
        }
        finally
        {
            // The worker closed its side or went away: end the call.
            await stream.CancelAsync();
        }
    }
}
