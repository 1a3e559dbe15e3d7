using System.Collections;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Forwarding;
using ProxyPlatform.DataPlane.Routing;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// One request on its way through the worker: what it matched, and what its current attempt has seen.
/// It is also the request's logging scope (request ID, route, cluster and the current attempt's
/// backend), read only when a log line is written, so that opening the scope allocates nothing more.
/// </summary>
public sealed class ProxyExchange(string requestId, CompiledRoute route, ClusterRuntime cluster, ForwardedValues forwarded, string? affinityKey)
    : IReadOnlyList<KeyValuePair<string, object?>>
{
    public string RequestId { get; } = requestId;
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
    /// <summary>True while the exchange is the logging scope of the whole request.</summary>
    public bool InScope { get; set; }

    public void StartAttempt(Backend backend, bool mayRetryOnStatus)
    {
        Backend = backend;
        MayRetryOnStatus = mayRetryOnStatus;
        RetryStatus = 0;
        BackendStatus = 0;
    }

    public void ResponseHeadersReceived() => HeadersTimer?.CancelAfter(Timeout.InfiniteTimeSpan);

    int IReadOnlyCollection<KeyValuePair<string, object?>>.Count => 4;

    KeyValuePair<string, object?> IReadOnlyList<KeyValuePair<string, object?>>.this[int index] => index switch
    {
        0 => new("RequestId", RequestId),
        1 => new("Route", Route.Name),
        2 => new("Cluster", Cluster.Name),
        3 => new("Backend", Backend?.Id),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    IEnumerator<KeyValuePair<string, object?>> IEnumerable<KeyValuePair<string, object?>>.GetEnumerator()
    {
        IReadOnlyList<KeyValuePair<string, object?>> scope = this;
        for (var i = 0; i < scope.Count; i++)
            yield return scope[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)this).GetEnumerator();

    public override string ToString() => $"RequestId:{RequestId} Route:{Route.Name} Cluster:{Cluster.Name} Backend:{Backend?.Id}";
}
