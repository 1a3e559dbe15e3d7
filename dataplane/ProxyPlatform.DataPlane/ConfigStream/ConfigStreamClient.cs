using System.Diagnostics;
using System.Reflection;
using System.Threading.Channels;
using Grpc.Core;
using Grpc.Net.Client;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.Protos.DataPlane;
using ConfigStreamRpc = ProxyPlatform.Protos.DataPlane.ConfigStream;

namespace ProxyPlatform.DataPlane.ConfigStream;

/// <summary>
/// Keeps one configuration stream open to the control plane. It says Hello with the revision it
/// serves, applies the updates (coalesced by <see cref="UpdateCoalescer"/>) and answers ACK or NACK, and
/// sends heartbeats. When the stream breaks or the control plane is unreachable the worker keeps
/// serving what it has and reconnects with jittered backoff, trying the configured URLs in turn.
/// </summary>
public sealed class ConfigStreamClient : BackgroundService
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Settling = TimeSpan.FromSeconds(1);
    /// <summary>Updates read from the stream and not yet applied; past this the stream is not read.</summary>
    private const int MaxQueuedUpdates = 1024;
    /// <summary>An ACK lists at most this many rejected resources (the rest are counted), each reason at most this long: the proto's bounds.</summary>
    public const int MaxReportedRejections = 100, MaxReasonLength = 512;
    private static readonly string Version =
        typeof(ConfigStreamClient).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    private readonly DataPlaneOptions _options;
    private readonly ConfigApplier _applier;
    private readonly ConfigStreamStats _stats;
    private readonly ILogger<ConfigStreamClient> _logger;
    private readonly GrpcChannel[] _channels;
    private readonly IStreamReporter[] _reporters;
    private readonly UpdateCoalescer _coalescer;

    private readonly Ops.WorkerDrain _drain;

    public ConfigStreamClient(DataPlaneOptions options, ConfigApplier applier, ConfigStreamStats stats, IEnumerable<IStreamReporter> reporters, Ops.WorkerDrain drain, ILogger<ConfigStreamClient> logger)
    {
        _drain = drain;
        _options = options;
        _applier = applier;
        _coalescer = new UpdateCoalescer(applier.ApplyAsync, TimeProvider.System);
        _stats = stats;
        _reporters = [.. reporters];
        _logger = logger;
        var trust = ControlPlaneTrust.From(options.ControlPlaneCaFile);
        _channels = [.. options.ControlPlaneUrls.Select(url => CreateChannel(url, trust))];
    }

    /// <summary>Identifies this run of the process to the control plane, so a restart is told from a reconnect.</summary>
    public string Instance { get; } = Guid.NewGuid().ToString("N");

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Hosted services start before the server opens its listeners, so a worker with a saved
        // configuration serves it from its first request, whether or not the control plane is up.
        await _applier.RestoreLastKnownGoodAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = new ReconnectBackoff(FirstRetry, LongestRetry);
        var index = 0;
        // What was last reported of each URL, so an outage is one warning per URL and cause, not one per attempt.
        var reported = new string?[_channels.Length];
        while (!stoppingToken.IsCancellationRequested)
        {
            var url = Display(_options.ControlPlaneUrls[index]);
            var session = new Session();
            string ending;
            try
            {
                await RunStreamAsync(index, session, stoppingToken);
                ending = session.OutOfSequence ? "resynchronising" : "the control plane ended the stream";
            }
            catch (Exception ex)
            {
                // Stopping cancels the call, which gRPC reports as an RpcException too.
                if (stoppingToken.IsCancellationRequested)
                    return;
                ending = ex is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : ex.Message;
            }

            if (session.Worked)
                backoff.Reset();
            if (session.Connected)
            {
                Array.Clear(reported);
                _logger.LogInformation("Disconnected from control plane {Url} ({Reason}); still serving revision {Revision}", url, ending, _applier.AppliedRevision);
            }
            else if (reported[index] != ending)
            {
                reported[index] = ending;
                _logger.LogWarning("Control plane {Url} is unreachable or refused the stream ({Reason}); serving revision {Revision} and retrying every ≤{Cap}s over {Count} URL(s)",
                    url, ending, _applier.AppliedRevision, LongestRetry.TotalSeconds, _channels.Length);
            }
            else
            {
                _logger.LogDebug("Control plane {Url} is still unreachable ({Reason})", url, ending);
            }

            // Resynchronise with the same node; after a failure try the next one.
            if (!session.OutOfSequence)
                index = (index + 1) % _channels.Length;
            try
            {
                await Task.Delay(backoff.Next(), stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        foreach (var channel in _channels)
            channel.Dispose();
    }

    private async Task RunStreamAsync(int index, Session session, CancellationToken stoppingToken)
    {
        var url = Display(_options.ControlPlaneUrls[index]);
        _stats.Connecting(url);
        var client = new ConfigStreamRpc.ConfigStreamClient(_channels[index]);
        var headers = _options.DataPlaneToken is { } token ? new Metadata { { "authorization", $"Bearer {token}" } } : null;
        using var stream = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        using var call = client.Connect(headers, cancellationToken: stream.Token);
        var writer = new MessageWriter(call.RequestStream);

        var applied = _applier.AppliedRevision;
        try
        {
            await writer.WriteAsync(new WorkerMessage
            {
                Hello = new Hello { WorkerId = _options.WorkerId, Pool = _options.Pool, AppliedRevision = applied, SavedRevision = _applier.SavedRevision, Instance = Instance, Version = Version },
            }, stream.Token);
        }
        catch (RpcException)
        {
            // A control plane that refuses the stream may end the call while the Hello is being sent;
            // the write then fails as cancelled, and the response holds the real reason (e.g. Unauthenticated).
            await call.ResponseStream.MoveNext(stream.Token);
            throw;
        }
        var heartbeats = SendHeartbeatsAsync(writer, stream);
        var reports = Task.WhenAll(_reporters.Select(r => ReportAsync(r, writer, stream)));
        try
        {
            // A control plane that refuses the worker (a wrong token, a bad Hello) ends the stream at
            // once; one that accepts it may stay silent until the pool changes. So the stream counts
            // as connected once it brings a message or is still open a moment after the Hello.
            var next = call.ResponseStream.MoveNext(stream.Token);
            using (var settling = CancellationTokenSource.CreateLinkedTokenSource(stream.Token))
            {
                await Task.WhenAny(next, Task.Delay(Settling, settling.Token));
                await settling.CancelAsync();
            }
            if (!next.IsCompleted || next.IsCompletedSuccessfully && next.Result)
            {
                session.Opened();
                _stats.ConnectedTo(url);
                _logger.LogInformation("Connected to control plane {Url} as {Worker} (pool {Pool}, serving revision {Revision})", url, _options.WorkerId, _options.Pool, applied);
            }

            // The stream is read into a queue, and the coalescer applies everything queued at once. The
            // queue is bounded: a worker that cannot keep up stops reading, and gRPC's flow control
            // holds the control plane back.
            var queue = Channel.CreateBounded<ConfigUpdate>(new BoundedChannelOptions(MaxQueuedUpdates) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
            var reading = PumpAsync(call.ResponseStream, next, queue.Writer, session, stream.Token);
            // ACKs wait for the last-known-good save, applies do not: traffic gets a change at once,
            // and the control plane hears of it once a restart would still serve it.
            var acks = new PendingAck(this, writer, stream);
            try
            {
                while (await _coalescer.ApplyNextAsync(queue.Reader, stream.Token) is { } result)
                {
                    switch (result.Outcome)
                    {
                        case ApplyOutcome.Applied:
                            acks.Applied(result.Revision);
                            break;
                        case ApplyOutcome.Rejected:
                            await writer.WriteAsync(new WorkerMessage { Nack = new Nack { Revision = result.Revision, Reason = result.Reason } }, stream.Token);
                            _stats.NackSent(result.Revision, result.Reason!);
                            break;
                        case ApplyOutcome.OutOfSequence:
                            // The Hello of the next stream names the applied revision; the control plane resends from there.
                            _logger.LogWarning("Out-of-sequence update from {Url}: {Reason} Reconnecting to resynchronise", url, result.Reason);
                            session.OutOfSequence = true;
                            return;
                    }
                }
            }
            finally
            {
                await stream.CancelAsync();
                await reading;
                await acks.Completion;
            }
        }
        finally
        {
            _stats.Disconnected();
            await stream.CancelAsync();
            await heartbeats;
            await reports;
        }
    }

    private async Task ReportAsync(IStreamReporter reporter, MessageWriter writer, CancellationTokenSource stream)
    {
        try
        {
            await reporter.RunAsync(writer.WriteAsync, stream.Token);
        }
        catch (OperationCanceledException) when (stream.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // A stream that cannot be written to is gone: end it, so the reader reconnects.
            _logger.LogDebug(ex, "Reporting through {Reporter} failed", reporter.GetType().Name);
            await stream.CancelAsync();
        }
    }

    private async Task PumpAsync(IAsyncStreamReader<ControlMessage> responses, Task<bool> first, ChannelWriter<ConfigUpdate> queue, Session session, CancellationToken ct)
    {
        Exception? error = null;
        try
        {
            for (var next = first; await next; next = responses.MoveNext(ct))
            {
                if (responses.Current.KindCase == ControlMessage.KindOneofCase.Drain)
                    _drain.Begin(responses.Current.Drain.Reason);
                if (responses.Current.KindCase != ControlMessage.KindOneofCase.Update)
                    continue;
                var update = responses.Current.Update;
                _stats.UpdateReceived(update);
                session.UpdateReceived();
                await queue.WriteAsync(update, ct);
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            // The applier sees the stream's end (or failure) once it has applied what was queued.
            queue.TryComplete(error is OperationCanceledException ? null : error);
        }
    }

    /// <summary>
    /// The ACK the stream owes: the newest applied revision, sent once it is saved as last-known-good
    /// (however many attempts that takes), with every resource the worker rejects. An ACK covers every
    /// revision before it, so while a save is slow only the newest revision waits: one pending ACK,
    /// never a queue of them.
    /// </summary>
    private sealed class PendingAck(ConfigStreamClient client, MessageWriter writer, CancellationTokenSource stream)
    {
        private readonly Lock _gate = new();
        private long _wanted;
        private long _sent;
        private Task _sending = Task.CompletedTask;

        /// <summary>Completes when no ACK is being sent.</summary>
        public Task Completion
        {
            get
            {
                lock (_gate)
                    return _sending;
            }
        }

        public void Applied(long revision)
        {
            lock (_gate)
            {
                _wanted = Math.Max(_wanted, revision);
                if (_sending.IsCompleted)
                    _sending = Task.Run(SendAsync);
            }
        }

        private async Task SendAsync()
        {
            while (true)
            {
                long revision;
                lock (_gate)
                {
                    if (_wanted <= _sent || stream.IsCancellationRequested)
                    {
                        // Leaving under the lock: Applied sees this task as running until it returns.
                        _sending = Task.CompletedTask;
                        return;
                    }
                    revision = _wanted;
                }
                try
                {
                    await client._applier.WhenSavedAsync(revision).WaitAsync(stream.Token);
                    await writer.WriteAsync(new WorkerMessage { Ack = client.Ack(revision) }, stream.Token);
                }
                catch (OperationCanceledException)
                {
                }
                catch (Exception ex)
                {
                    // A stream that cannot be written to is gone: end it, so the reader reconnects.
                    client._logger.LogDebug(ex, "ACK of revision {Revision} failed", revision);
                    await stream.CancelAsync();
                }
                lock (_gate)
                    _sent = Math.Max(_sent, revision);
            }
        }
    }

    /// <summary>An ACK of <paramref name="revision"/> listing what the worker rejects, within the ACK's bounds.</summary>
    private Ack Ack(long revision)
    {
        var ack = new Ack { Revision = revision };
        var rejected = _applier.RejectedResources;
        foreach (var (key, rejection) in rejected.OrderBy(r => r.Key.ToString(), StringComparer.Ordinal).Take(MaxReportedRejections))
        {
            ack.Rejected.Add(new RejectedResource
            {
                Key = Resources.ResourceKinds.ToWire(key),
                Revision = rejection.Revision,
                Reason = rejection.Reason.Length > MaxReasonLength ? rejection.Reason[..(MaxReasonLength - 1)] + "…" : rejection.Reason,
            });
        }
        ack.RejectedOmitted = Math.Max(0, rejected.Count - MaxReportedRejections);
        return ack;
    }

    private async Task SendHeartbeatsAsync(MessageWriter writer, CancellationTokenSource stream)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stream.Token))
            {
                // The control plane counts a heartbeat's revision as applied, as it does an ACK: name only what is saved.
                await writer.WriteAsync(new WorkerMessage { Heartbeat = new Heartbeat { AppliedRevision = _applier.SavedRevision } }, stream.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            // A stream that cannot be written to is gone: end it, so the reader reconnects.
            _logger.LogDebug(ex, "Heartbeat failed");
            await stream.CancelAsync();
        }
    }

    private static string Display(Uri url) => url.AbsolutePath == "/" ? url.GetLeftPart(UriPartial.Authority) : url.ToString();

    private static GrpcChannel CreateChannel(Uri url, System.Net.Security.SslClientAuthenticationOptions? trust) => GrpcChannel.ForAddress(url, new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(5),
            // Pings find a control plane that vanished without closing the connection.
            KeepAlivePingDelay = TimeSpan.FromSeconds(15),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            EnableMultipleHttp2Connections = true,
            SslOptions = trust ?? new System.Net.Security.SslClientAuthenticationOptions(),
        },
        // A full snapshot of a large pool is far beyond gRPC's default 4 MB message limit.
        MaxReceiveMessageSize = 256 * 1024 * 1024,
    });

    /// <summary>How one stream went: whether it opened, and whether it worked long enough to start backoff over.</summary>
    private sealed class Session
    {
        private long _openedAt;
        private bool _updated;

        public bool Connected => _openedAt != 0;
        /// <summary>
        /// It carried an update or stayed open past the longest wait. A stream that the control plane
        /// refuses right after the Hello (a bad token) does not count, so its retries slow down.
        /// </summary>
        public bool Worked => _updated || Connected && Stopwatch.GetElapsedTime(_openedAt) >= LongestRetry;
        public bool OutOfSequence { get; set; }

        public void Opened() => _openedAt = Stopwatch.GetTimestamp();
        public void UpdateReceived() => _updated = true;
    }

    /// <summary>The request stream allows one write at a time; ACKs and heartbeats take turns.</summary>
    private sealed class MessageWriter(IClientStreamWriter<WorkerMessage> requests)
    {
        private readonly SemaphoreSlim _gate = new(1, 1);

        public async Task WriteAsync(WorkerMessage message, CancellationToken cancellationToken)
        {
            await _gate.WaitAsync(cancellationToken);
            try
            {
                await requests.WriteAsync(message, cancellationToken);
            }
            finally
            {
                _gate.Release();
            }
        }
    }
}
