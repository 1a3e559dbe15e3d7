namespace ProxyPlatform.DataPlane.Proxy;

/// <summary>One request on its way through the worker: what it matched, and what its current attempt has seen.</summary>
public sealed class ProxyExchange(CompiledRoute route, ClusterRuntime cluster, ForwardedValues forwarded, string? affinityKey)
{
    public CompiledRoute Route { get; } = route;
    public ClusterRuntime Cluster { get; } = cluster;
    public ForwardedValues Forwarded { get; } = forwarded;
    /// <summary>The affinity key the client sent, if any.</summary>
    public string? AffinityKey { get; } = affinityKey;

    /// <summary>The backend of the current attempt.</summary>
    public Backend? Backend { get; set; }
    /// <summary>True when a response with a status the cluster retries may be dropped for another attempt.</summary>
    public bool MayRetryOnStatus { get; set; }
    /// <summary>The status of a response that was dropped to be retried; 0 when none.</summary>
    public int RetryStatus { get; set; }
    /// <summary>The status the backend answered in the current attempt; 0 before its headers arrive.</summary>
    public int BackendStatus { get; set; }
    /// <summary>Cancels the current attempt if its response headers take too long; stopped when they arrive.</summary>
    public CancellationTokenSource? HeadersTimer { get; set; }

    public void StartAttempt(Backend backend, bool mayRetryOnStatus)
    {
        Backend = backend;
        MayRetryOnStatus = mayRetryOnStatus;
        RetryStatus = 0;
        BackendStatus = 0;
    }

    public void ResponseHeadersReceived() => HeadersTimer?.CancelAfter(Timeout.InfiniteTimeSpan);
}
