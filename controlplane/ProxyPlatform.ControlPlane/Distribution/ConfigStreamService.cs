using Grpc.Core;
using ProxyPlatform.Configuration;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// The data-plane end of the configuration stream: after the worker's Hello it sends what the
/// worker lacks (a delta from its revision, or a snapshot), then every change of the pool,
/// coalescing changes that arrive while a send is in progress into one update. ACKs, NACKs and
/// heartbeats go to the worker's grain.
/// </summary>
/// <remarks>
/// Only a worker's credential opens a stream: a pool token admits its own pool alone, the bootstrap
/// worker token any pool, and a worker ID already streaming under another credential is refused. A
/// stream whose credential is revoked or expires is closed within a second.
/// </remarks>
[Microsoft.AspNetCore.Authorization.Authorize(Access.Policies.Worker)]
public sealed class ConfigStreamService(
    IEnumerable<IWorkerReportHandler> reportHandlers, Access.CredentialVerifier credentials,
    PoolFeeds feeds, IGrainFactory grains, ILocalSiloDetails silo, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<ConfigStreamService> logger)
    : ConfigStream.ConfigStreamBase
{
    /// <summary>The longest worker instance and version strings a Hello may carry.</summary>
    public const int MaxLabelLength = 128;
    /// <summary>A NACK's reason is cut to this many characters before it is stored and shown.</summary>
    public const int MaxReasonLength = 4096;
    /// <summary>An ACK's list of rejected resources is kept up to this many, each reason up to this long.</summary>
    public const int MaxRejections = 100, MaxRejectionReasonLength = 512;

    public override async Task Connect(IAsyncStreamReader<WorkerMessage> requestStream, IServerStreamWriter<ControlMessage> responseStream, ServerCallContext context)
    {
        if (!await requestStream.MoveNext(context.CancellationToken) || requestStream.Current.KindCase != WorkerMessage.KindOneofCase.Hello)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "The first message on the stream must be a Hello."));
        var hello = requestStream.Current.Hello;
        if (string.IsNullOrWhiteSpace(hello.WorkerId) || hello.WorkerId.Length > 253 || hello.WorkerId.Contains('/', StringComparison.Ordinal))
            throw new RpcException(new Status(StatusCode.InvalidArgument, "hello.workerId: is required (at most 253 characters, no '/')."));
        var pool = string.IsNullOrEmpty(hello.Pool) ? Pools.Default : hello.Pool;
        if (!ConfigValidator.IsValidId(pool))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"hello.pool: '{pool}' is not a valid pool ID."));
        if (hello.Instance.Length > MaxLabelLength || hello.Version.Length > MaxLabelLength)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"hello.instance and hello.version: at most {MaxLabelLength} characters each."));
        var instance = string.IsNullOrEmpty(hello.Instance) ? Guid.NewGuid().ToString("N") : hello.Instance;
        var caller = context.GetHttpContext().User;
        var credential = caller.FindFirst(Access.Caller.KeyIdClaim)?.Value ?? "";
        if (caller.FindFirst(Access.Caller.PoolClaim)?.Value is { } admitted && admitted != pool)
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"hello.pool: this token admits workers of pool '{admitted}' only, not '{pool}'."));
        // Pool names come from operators, not from Hellos: a worker cannot make a pool exist.
        if (!await grains.GetGrain<IDataPlanePoolGrain>(pool).Exists())
            throw new RpcException(new Status(StatusCode.NotFound, $"hello.pool: pool '{pool}' does not exist; an operator creates it with PUT /v1/pools/{pool}."));

        var feed = await feeds.GetAsync(pool);
        var worker = grains.GetGrain<IDataPlaneGrain>(hello.WorkerId);
        // Updates build on what the worker serves; only what it has saved counts as applied.
        var counted = hello.HasSavedRevision ? Math.Min(hello.AppliedRevision, hello.SavedRevision) : hello.AppliedRevision;
        try
        {
            await worker.Connected(new WorkerConnection(pool, silo.SiloAddress.Endpoint.ToString(), instance, counted, time.GetUtcNow(), credential));
        }
        catch (AdminException ex) when (ex.Kind == AdminErrorKind.Conflict)
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, ex.Message));
        }
        var session = new Session(hello.AppliedRevision);
        // A node that is shutting down ends its streams at once, so its workers move to another node
        // instead of waiting for the process to exit.
        using var stream = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        var identity = new WorkerIdentity(hello.WorkerId, pool, instance, feed);
        var reading = ReadAsync(requestStream, worker, identity, session, stream);
        var watching = WatchCredentialAsync(credential, hello.WorkerId, stream);
        logger.LogInformation("Worker {Worker} connected for pool {Pool} at revision {Revision}", hello.WorkerId, pool, hello.AppliedRevision);
        var drain = feed.DrainRequested(hello.WorkerId);
        try
        {
            var first = true;
            while (!stream.IsCancellationRequested)
            {
                // A worker that has never had a configuration gets a snapshot even of an empty pool.
                var update = feed.BuildUpdate(session.Base, forceFull: first && session.Base == 0);
                first = false;
                if (update is not null)
                {
                    session.Sent(update.Revision);
                    await responseStream.WriteAsync(new ControlMessage { Update = update }, stream.Token);
                }
                var changed = feed.WaitForChangeAsync(session.Latest, stream.Token);
                if (await Task.WhenAny(changed, drain) == drain)
                {
                    logger.LogInformation("Telling worker {Worker} of pool {Pool} to drain: {Reason}", hello.WorkerId, pool, drain.Result);
                    await responseStream.WriteAsync(new ControlMessage { Drain = new Drain { Reason = drain.Result } }, stream.Token);
                    // Asked once per stream; the worker keeps streaming (and being updated) while it drains.
                    feed.ForgetDrain(hello.WorkerId, drain);
                    drain = new TaskCompletionSource<string>().Task;
                }
                await changed;
            }
        }
        catch (OperationCanceledException) when (stream.IsCancellationRequested)
        {
        }
        finally
        {
            await stream.CancelAsync();
            feed.ForgetDrain(hello.WorkerId, drain);
            await reading;
            await watching;
            await worker.Disconnected(instance);
            foreach (var handler in reportHandlers)
                await handler.DisconnectedAsync(identity);
            logger.LogInformation("Worker {Worker} disconnected from pool {Pool}", hello.WorkerId, pool);
        }
    }

    private async Task ReadAsync(IAsyncStreamReader<WorkerMessage> requests, IDataPlaneGrain worker, WorkerIdentity identity, Session session, CancellationTokenSource stream)
    {
        var instance = identity.Instance;
        try
        {
            while (await requests.MoveNext(stream.Token))
            {
                var message = requests.Current;
                switch (message.KindCase)
                {
                    case WorkerMessage.KindOneofCase.Ack:
                        session.Acked(message.Ack.Revision);
                        var (rejected, omitted) = Rejections(message.Ack);
                        await worker.Acked(instance, message.Ack.Revision, rejected, omitted);
                        break;
                    case WorkerMessage.KindOneofCase.Nack:
                        session.Nacked(message.Nack.Revision);
                        var reason = message.Nack.Reason.Length > MaxReasonLength ? message.Nack.Reason[..MaxReasonLength] + "…" : message.Nack.Reason;
                        logger.LogWarning("Worker {Worker} rejected revision {Revision}: {Reason}", worker.GetPrimaryKeyString(), message.Nack.Revision, reason);
                        await worker.Rejected(instance, message.Nack.Revision, reason);
                        break;
                    case WorkerMessage.KindOneofCase.Heartbeat:
                        await worker.Heartbeat(instance, message.Heartbeat.AppliedRevision);
                        break;
                    case WorkerMessage.KindOneofCase.Status:
                        await worker.Status(instance, WorkerUrl(message.Status.ProxyUrl), WorkerUrl(message.Status.OpsUrl), message.Status.Drain switch
                        {
                            DrainState.Draining => Scaling.ReplicaStates.Draining,
                            DrainState.Leaving => Scaling.ReplicaStates.Gone,
                            _ => null,
                        });
                        break;
                    default:
                        foreach (var handler in reportHandlers)
                            await handler.ReportAsync(identity, message);
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException || ex is IOException || (ex is RpcException rpc && rpc.StatusCode == StatusCode.Cancelled))
        {
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Reading worker {Worker}'s stream failed", worker.GetPrimaryKeyString());
        }
        finally
        {
            // The worker closed its side or went away: end the call.
            await stream.CancelAsync();
        }
    }

    /// <summary>A URL a worker reports for itself, kept only when it is a short absolute http(s) URL.</summary>
    private static string? WorkerUrl(string url) =>
        url.Length is > 0 and <= 512 && Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps) ? url : null;

    /// <summary>
    /// The resources an ACK says the worker rejects, within bounds: at most <see cref="MaxRejections"/>,
    /// each reason cut at <see cref="MaxRejectionReasonLength"/>; entries that name no valid resource
    /// are not kept, and are counted with those the worker left out.
    /// </summary>
    private static (IReadOnlyList<ResourceRejection>, int Omitted) Rejections(Ack ack)
    {
        var kept = new List<ResourceRejection>();
        var omitted = Math.Max(0, ack.RejectedOmitted);
        foreach (var entry in ack.Rejected)
        {
            if (kept.Count >= MaxRejections || !Resources.ResourceKinds.TryFromWire(entry.Key, out var key, out _))
            {
                omitted++;
                continue;
            }
            var reason = entry.Reason.Length > MaxRejectionReasonLength ? entry.Reason[..MaxRejectionReasonLength] + "…" : entry.Reason;
            kept.Add(new ResourceRejection(key, entry.Revision, reason));
        }
        return (kept, omitted);
    }

    /// <summary>Closes the stream once its credential is revoked or has expired.</summary>
    private async Task WatchCredentialAsync(string credential, string workerId, CancellationTokenSource stream)
    {
        using var timer = new PeriodicTimer(Access.CredentialVerifier.RefreshPeriod, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stream.Token))
            {
                bool valid;
                try
                {
                    valid = await credentials.IsStillValidAsync(credential, stream.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The database is out of reach: a stream already open keeps serving its worker.
                    logger.LogDebug(ex, "Checking the credential of worker {Worker}'s stream failed", workerId);
                    continue;
                }
                if (!valid)
                {
                    logger.LogWarning("Closing worker {Worker}'s stream: its credential {Credential} was revoked or has expired", workerId, credential);
                    await stream.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// What one stream has sent and the worker has applied. Updates are built on top of what was
    /// sent, except after a NACK: then on top of what the worker still serves, and only once the
    /// pool has moved past the rejected revision, so rejected content is never resent in a loop.
    /// </summary>
    private sealed class Session(long applied)
    {
        private readonly Lock _gate = new();
        private long _applied = applied;
        private long _sent = applied;
        private long _rejected;

        public long Base
        {
            get
            {
                lock (_gate)
                    return _rejected == _sent ? _applied : _sent;
            }
        }

        /// <summary>The revision the worker has, or has been offered; the stream waits for the pool to pass it.</summary>
        public long Latest
        {
            get
            {
                lock (_gate)
                    return _sent;
            }
        }

        public void Sent(long revision)
        {
            lock (_gate)
                _sent = revision;
        }

        public void Acked(long revision)
        {
            lock (_gate)
                _applied = Math.Max(_applied, revision);
        }

        public void Nacked(long revision)
        {
            lock (_gate)
                _rejected = Math.Max(_rejected, revision);
        }
    }
}
