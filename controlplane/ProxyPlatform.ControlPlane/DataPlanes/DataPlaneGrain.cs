using ProxyPlatform.ControlPlane.Hosting;

namespace ProxyPlatform.ControlPlane.DataPlanes;

[GenerateSerializer, Alias("pp.DataPlaneState")]
public sealed class DataPlaneState
{
    [Id(0)] public string Pool { get; set; } = "";
    [Id(1)] public string? Node { get; set; }
    [Id(2)] public string? Instance { get; set; }
    [Id(3)] public DateTimeOffset? ConnectedSince { get; set; }
    [Id(4)] public long AppliedRevision { get; set; }
    [Id(5)] public Rejection? LastNack { get; set; }
    [Id(6)] public bool Connected { get; set; }
    [Id(7)] public string? Credential { get; set; }
    /// <summary>The resources the worker said in its last ACK that it does not serve as sent.</summary>
    [Id(8)] public List<ResourceRejection> Rejected { get; set; } = [];
    [Id(9)] public int RejectedOmitted { get; set; }
    /// <summary>When the worker's last stream ended; its absence is counted from here.</summary>
    [Id(10)] public DateTimeOffset? DisconnectedAt { get; set; }
    [Id(11)] public string? ProxyUrl { get; set; }
    [Id(12)] public string? OpsUrl { get; set; }
    /// <summary>Null while the worker serves; <c>draining</c>, then <c>gone</c> as it leaves. A new instance starts afresh.</summary>
    [Id(13)] public string? Drain { get; set; }
}

/// <summary>
/// One worker's record. Connects, disconnects and NACKs are rare and persisted; acknowledgements
/// and heartbeats are frequent and kept in memory (persisted with the next rare event), so that a
/// busy pool does not turn every revision into one PostgreSQL write per worker. A worker absent for
/// <see cref="ControlPlaneOptions.WorkerExpiry"/> is forgotten: its record and row are deleted.
/// </summary>
[GrainType(GrainType)]
public sealed class DataPlaneGrain(
    [PersistentState("worker")] IPersistentState<DataPlaneState> state, TimeProvider time, ControlPlaneOptions options,
    GrainReferences<IDataPlanePoolGrain> pools) : Grain, IDataPlaneGrain
{
    public const string GrainType = "dataplane";

    private TimeSpan Silence => options.WorkerSilence;

    private DateTimeOffset? _lastSeen;
    private DataPlaneState S => state.State;
    private string Worker => this.GetPrimaryKeyString();

    public async Task Connected(WorkerConnection connection)
    {
        // One worker ID, one holder: another credential cannot take over (and hear the configuration
        // of) a worker that is streaming, nor report in its name.
        if (S.Connected && S.Credential is { } holder && holder != connection.Credential && _lastSeen is { } seen && time.GetUtcNow() - seen < Silence)
            throw AdminException.Conflict($"Worker ID '{Worker}' is streaming under another credential; each worker needs an ID of its own.");
        S.Credential = connection.Credential;
        S.Pool = connection.Pool;
        S.Node = connection.Node;
        if (S.Instance != connection.Instance)
            S.Drain = null;
        S.Instance = connection.Instance;
        S.ConnectedSince = connection.ConnectedAt;
        S.AppliedRevision = connection.AppliedRevision;
        S.Connected = true;
        S.DisconnectedAt = null;
        _lastSeen = time.GetUtcNow();
        await state.WriteStateAsync();
        Report();
    }

    public Task Applied(string instance, long revision)
    {
        if (instance == S.Instance)
        {
            S.AppliedRevision = Math.Max(S.AppliedRevision, revision);
            _lastSeen = time.GetUtcNow();
            Report();
        }
        return Task.CompletedTask;
    }

    public async Task Acked(string instance, long revision, IReadOnlyList<ResourceRejection> rejected, int omitted)
    {
        if (instance != S.Instance)
            return;
        // The revision and what the worker left out of it are reported together: a write waiting for
        // its revision must not see it applied before it sees the write rejected.
        var changed = S.RejectedOmitted != omitted || !S.Rejected.SequenceEqual(rejected);
        S.Rejected = changed ? [.. rejected] : S.Rejected;
        S.RejectedOmitted = omitted;
        S.AppliedRevision = Math.Max(S.AppliedRevision, revision);
        _lastSeen = time.GetUtcNow();
        // Rare (a worker's rejected set changes only when a resource fails or is fixed): persisted at once.
        if (changed)
            await state.WriteStateAsync();
        Report();
    }

    public async Task Rejected(string instance, long revision, string reason)
    {
        if (instance != S.Instance)
            return;
        S.LastNack = new Rejection(revision, reason, time.GetUtcNow());
        _lastSeen = time.GetUtcNow();
        await state.WriteStateAsync();
        Report();
    }

    public Task Heartbeat(string instance, long appliedRevision) => Applied(instance, appliedRevision);

    public async Task Status(string instance, string? proxyUrl, string? opsUrl, string? drain)
    {
        if (instance != S.Instance)
            return;
        _lastSeen = time.GetUtcNow();
        if (S.ProxyUrl == proxyUrl && S.OpsUrl == opsUrl && S.Drain == drain)
            return;
        (S.ProxyUrl, S.OpsUrl, S.Drain) = (proxyUrl, opsUrl, drain);
        await state.WriteStateAsync();
        Report();
    }

    public async Task Disconnected(string instance)
    {
        if (instance != S.Instance)
            return;
        S.Connected = false;
        S.DisconnectedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        Report();
    }

    public Task<DataPlaneStatus?> Get() => Task.FromResult(S.Pool.Length == 0 || Expired() ? null : Status());

    public async Task<bool> Expire()
    {
        if (S.Pool.Length == 0 || !Expired())
            return false;
        await state.ClearStateAsync();
        DeactivateOnIdle();
        return true;
    }

    /// <summary>
    /// Gone for longer than the expiry: not connected, and silent since whichever came last of its last
    /// message (while this activation lasts), its disconnection, and its connection (a node that died
    /// never reported the disconnection).
    /// </summary>
    private bool Expired()
    {
        if (Status().Connected)
            return false;
        var since = new[] { _lastSeen, S.DisconnectedAt, S.ConnectedSince }.Max();
        return since is not { } absent || time.GetUtcNow() - absent >= options.WorkerExpiry;
    }

    private DataPlaneStatus Status()
    {
        var connected = S.Connected && _lastSeen is { } seen && time.GetUtcNow() - seen < Silence;
        return new DataPlaneStatus(Worker, S.Pool, S.Node, connected, S.ConnectedSince, _lastSeen, S.AppliedRevision, S.LastNack, S.Rejected, S.RejectedOmitted)
        {
            ProxyUrl = S.ProxyUrl,
            OpsUrl = S.OpsUrl,
            Drain = S.Drain,
        };
    }

    // Called on every ACK, hence the cached reference.
    private void Report() => pools[S.Pool].Report(Status()).Ignore();
}
