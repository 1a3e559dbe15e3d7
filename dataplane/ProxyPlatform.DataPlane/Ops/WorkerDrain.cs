using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.Protos.DataPlane;
using ProxyPlatform.DataPlane.WebSockets;

namespace ProxyPlatform.DataPlane.Ops;

/// <summary>
/// The worker's way out when its pool shrinks: told to drain (on its stream), it answers <c>/readyz</c>
/// with 503 while it keeps serving for <see cref="DataPlaneOptions.DrainTime"/>, so that a load balancer
/// stops sending it new work; then it closes its WebSockets with 1001 "going away" (<see cref="WebSocketTunnels"/>), reports that it is leaving and stops, and the host's graceful
/// shutdown lets in-flight requests finish before the process exits.
/// </summary>
public sealed class WorkerDrain
{
    private readonly DataPlaneOptions options;
    private readonly IHostApplicationLifetime lifetime;
    private readonly WebSocketTunnels tunnels;
    private readonly ILogger<WorkerDrain> logger;

    public WorkerDrain(DataPlaneOptions options, IHostApplicationLifetime lifetime, WebSocketTunnels tunnels, ILogger<WorkerDrain> logger)
    {
        (this.options, this.lifetime, this.tunnels, this.logger) = (options, lifetime, tunnels, logger);
        // Stopped without a drain (SIGTERM, as Kubernetes stops a pod after its preStop delay): WebSockets
        // still get their Close frames, while the host's graceful shutdown waits for their requests to end.
        lifetime.ApplicationStopping.Register(() => _ = tunnels.CloseAllAsync(WebSocketCloseGrace));
    }

    /// <summary>How long open WebSockets get to finish their closing handshake before the worker stops regardless.</summary>
    private static readonly TimeSpan WebSocketCloseGrace = TimeSpan.FromSeconds(5);

    /// <summary>How long the worker waits for its leaving to be reported before it stops regardless.</summary>
    private static readonly TimeSpan ReportTimeout = TimeSpan.FromSeconds(2);

    private readonly Lock _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _leavingReported = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public DrainState State { get; private set; }

    /// <summary>Completes at the next change of <see cref="State"/>.</summary>
    public Task Changed
    {
        get
        {
            lock (_gate)
                return _changed.Task;
        }
    }

    /// <summary>Starts draining; a worker already draining carries on as it was.</summary>
    public void Begin(string reason)
    {
        lock (_gate)
        {
            if (State != DrainState.None)
                return;
        }
        logger.LogInformation("Draining ({Reason}): /readyz answers 503, serving on for {Seconds} s", reason.Length == 0 ? "told by the control plane" : reason[..Math.Min(reason.Length, 200)], options.DrainTime.TotalSeconds);
        Set(DrainState.Draining);
        _ = LeaveAsync();
    }

    /// <summary>The status reporter has sent <see cref="DrainState.Leaving"/> on the stream.</summary>
    public void LeavingReported() => _leavingReported.TrySetResult();

    private async Task LeaveAsync()
    {
        try
        {
            await Task.Delay(options.DrainTime, lifetime.ApplicationStopping);
        }
        catch (OperationCanceledException)
        {
        }
        if (tunnels.Count > 0)
        {
            logger.LogInformation("Closing {Count} WebSocket connection(s) with 1001 going away", tunnels.Count);
            await tunnels.CloseAllAsync(WebSocketCloseGrace);
        }
        Set(DrainState.Leaving);
        await Task.WhenAny(_leavingReported.Task, Task.Delay(ReportTimeout));
        logger.LogInformation("Drained: stopping once in-flight requests finish");
        lifetime.StopApplication();
    }

    private void Set(DrainState state)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            State = state;
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }
}
