using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.ConfigStream;

/// <summary>The shape of the last update received: how big, and whether snapshot or delta.</summary>
public sealed record ReceivedUpdate(long Revision, long BaseRevision, int Upserts, int Removals, long Bytes);

/// <summary>The last NACK this worker sent.</summary>
public sealed record SentNack(long Revision, string Reason);

/// <summary>
/// What the configuration stream has received and how it stands, for the ops listener's
/// <c>/config-stats</c>. Counters only grow for the life of the process.
/// </summary>
public sealed class ConfigStreamStats
{
    private readonly Lock _gate = new();
    private long _updatesReceived;
    private long _bytesReceived;
    private long _nacksSent;
    private ReceivedUpdate? _lastUpdate;
    private SentNack? _lastNack;
    private bool _connected;
    private long _routeTableRebuilds;
    private string? _controlPlaneUrl;

    public long ConfigUpdatesReceived { get { lock (_gate) return _updatesReceived; } }
    /// <summary>The sum of the serialized sizes of the updates received.</summary>
    public long ConfigBytesReceived { get { lock (_gate) return _bytesReceived; } }
    public long LastUpdateBytes { get { lock (_gate) return _lastUpdate?.Bytes ?? 0; } }
    public ReceivedUpdate? LastUpdate { get { lock (_gate) return _lastUpdate; } }
    public long NacksSent { get { lock (_gate) return _nacksSent; } }
    public SentNack? LastNack { get { lock (_gate) return _lastNack; } }
    /// <summary>True while a stream to the control plane is open.</summary>
    public bool Connected { get { lock (_gate) return _connected; } }
    /// <summary>The control-plane URL of the open stream, or of the last one tried.</summary>
    public string? ControlPlaneUrl { get { lock (_gate) return _controlPlaneUrl; } }

    public void UpdateReceived(ConfigUpdate update)
    {
        var received = new ReceivedUpdate(update.Revision, update.BaseRevision, update.Upserts.Count, update.Removals.Count, update.CalculateSize());
        lock (_gate)
        {
            _updatesReceived++;
            _bytesReceived += received.Bytes;
            _lastUpdate = received;
        }
    }

    /// <summary>How often the proxy's endpoints changed, each a rebuild of the route matcher.</summary>
    public long RouteTableRebuilds => Interlocked.Read(ref _routeTableRebuilds);

    public void RouteTableRebuilt() => Interlocked.Increment(ref _routeTableRebuilds);

    public void NackSent(long revision, string reason)
    {
        lock (_gate)
        {
            _nacksSent++;
            _lastNack = new SentNack(revision, reason);
        }
    }

    public void Connecting(string url)
    {
        lock (_gate)
            _controlPlaneUrl = url;
    }

    public void ConnectedTo(string url)
    {
        lock (_gate)
        {
            _controlPlaneUrl = url;
            _connected = true;
        }
    }

    public void Disconnected()
    {
        lock (_gate)
            _connected = false;
    }
}
