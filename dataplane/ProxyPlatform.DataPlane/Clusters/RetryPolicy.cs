using ProxyPlatform.Configuration;

namespace ProxyPlatform.DataPlane.Clusters;

/// <summary>
/// A cluster's <c>retry</c>, as the request path asks it: which requests may be sent again, after
/// which failures, how many times, and whether their body can be kept for it.
/// </summary>
public sealed class RetryPolicy
{
    /// <summary>The methods a retry may repeat: safe or idempotent by RFC 9110 (POST and PATCH never).</summary>
    private static readonly HashSet<string> IdempotentMethods = new(StringComparer.OrdinalIgnoreCase) { "GET", "HEAD", "OPTIONS", "PUT", "DELETE" };

    private readonly int[] _statuses;

    private RetryPolicy(RetrySpec spec)
    {
        MaxAttempts = spec.MaxAttempts;
        OnConnectFailure = spec.RetryOn.Contains("connect-failure");
        OnReset = spec.RetryOn.Contains("reset");
        _statuses = [.. spec.RetryOn.Where(c => int.TryParse(c, out _)).Select(int.Parse)];
        // A backend that does not answer in time is answered 504 by the worker itself: a cluster that
        // retries 504s retries that too, or a hung backend's 504s would reach the clients it promised
        // to spare (docs/decisions.md, scalerel).
        OnTimeout = spec.RetryOn.Contains("timeout") || _statuses.Contains(StatusCodes.Status504GatewayTimeout);
        MaxBufferedBodyBytes = MaxAttempts > 1 ? spec.MaxBufferedBodyBytes : 0;
    }

    /// <summary>
    /// The policy of <paramref name="spec"/>. Without one a request is retried once on another
    /// backend if the first could not be connected to, as nginx does by default: nothing reached a
    /// backend, so nothing repeats.
    /// </summary>
    public static RetryPolicy From(RetrySpec? spec) => new(spec ?? new RetrySpec { MaxAttempts = 2, RetryOn = ["connect-failure"] });

    /// <summary>Attempts one request may make in all, the first included.</summary>
    public int MaxAttempts { get; }
    public bool OnConnectFailure { get; }
    /// <summary>Retry when the connection broke before any response (a backend killed mid-request).</summary>
    public bool OnReset { get; }
    /// <summary>Retry when the backend's answer did not come in the cluster's time (<c>timeout</c>, or <c>504</c>, which is what the client would get).</summary>
    public bool OnTimeout { get; }
    /// <summary>The largest request body kept so that it can be sent again; 0 when nothing is retried.</summary>
    public long MaxBufferedBodyBytes { get; }

    public static bool IsIdempotent(string method) => IdempotentMethods.Contains(method);

    /// <summary>True when a request of <paramref name="method"/> may be sent more than once.</summary>
    public bool Allows(string method) => MaxAttempts > 1 && IsIdempotent(method);

    /// <summary>True when a body of <paramref name="contentLength"/> can be kept for another attempt: known, and small enough.</summary>
    public bool CanReplay(long? contentLength) => contentLength is { } length && length <= MaxBufferedBodyBytes;

    /// <summary>True when a request that has made <paramref name="attempts"/> attempts may make one more.</summary>
    public bool AllowsAnotherAfter(int attempts) => attempts < MaxAttempts;

    /// <summary>True when a response of <paramref name="status"/> is dropped for another attempt.</summary>
    public bool RetriesStatus(int status)
    {
        foreach (var retried in _statuses)
        {
            if (retried == status)
                return true;
        }
        return false;
    }
}
