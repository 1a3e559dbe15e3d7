using System.Net.Sockets;
using ProxyPlatform.DataPlane.Clusters;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>What an attempt tells of its backend's health, for the backend's circuit.</summary>
public enum BackendSignal
{
    /// <summary>A non-5xx answer: the circuit closes.</summary>
    Succeeded,
    /// <summary>A 5xx, a transport failure or a time-out: counts towards opening the circuit.</summary>
    Failed,
    /// <summary>Nothing to judge the backend by (the client left, its body was refused): a half-open probe is let go.</summary>
    Inconclusive,
}

/// <summary>What was seen of one attempt once YARP's forwarder returned.</summary>
/// <param name="Error">The forwarder's error.</param>
/// <param name="Exception">The forwarder's exception (<see cref="IForwarderErrorFeature"/>), if any.</param>
/// <param name="RetryStatus">The status of an answer dropped to be retried; 0 when none.</param>
/// <param name="BackendStatus">The status the backend answered; 0 when its headers never came.</param>
/// <param name="DeadlineExpired">The route's time-out ran out.</param>
/// <param name="HeadersTimedOut">The cluster's response-headers time-out ran out (and the route's did not).</param>
/// <param name="ClientAborted">The client went away.</param>
/// <param name="ResponseStarted">Some of the answer has been sent to the client.</param>
public readonly record struct AttemptFacts(ForwarderError Error, Exception? Exception, int RetryStatus, int BackendStatus,
    bool DeadlineExpired, bool HeadersTimedOut, bool ClientAborted, bool ResponseStarted);

/// <summary>
/// What an attempt came to: what it says of the backend (and why, when it failed), whether another
/// attempt may help (and why, for the log), and what to answer the client if none follows.
/// </summary>
public readonly record struct AttemptOutcome(BackendSignal Signal, string? Failure, bool Retry, string? RetryReason, Problem? Answer)
{
    private static readonly AttemptOutcome Success = new(BackendSignal.Succeeded, null, false, null, null);
    private static readonly AttemptOutcome Unjudged = new(BackendSignal.Inconclusive, null, false, null, null);

    /// <summary>
    /// Classifies an attempt: <paramref name="retry"/> says which failures are worth another attempt;
    /// <paramref name="maxRequestBodyBytes"/> is the route's body limit, named when it refused the body.
    /// </summary>
    public static AttemptOutcome Of(in AttemptFacts facts, RetryPolicy retry, long? maxRequestBodyBytes)
    {
        if (facts.RetryStatus != 0)
        {
            var reason = $"status {facts.RetryStatus}";
            return new(BackendSignal.Failed, reason, true, reason, Problem.BackendFailed(facts.RetryStatus));
        }
        if (facts.Error == ForwarderError.None)
            return facts.BackendStatus >= 500 ? new(BackendSignal.Failed, $"status {facts.BackendStatus}", false, null, null) : Success;
        if (facts.DeadlineExpired)
            return new(BackendSignal.Failed, "route time-out", false, "time-out", Problem.BackendTimeout("The backend did not answer before the route's time-out."));
        if (facts.ClientAborted)
            return Unjudged;
        if (Find<BadHttpRequestException>(facts.Exception) is { StatusCode: StatusCodes.Status413PayloadTooLarge })
            return new(BackendSignal.Inconclusive, null, false, "body too large", Problem.BodyTooLarge(maxRequestBodyBytes));
        // The client sent a body Kestrel could not read (a malformed chunk): the client's fault, not the backend's.
        if (!facts.ResponseStarted && Find<BadHttpRequestException>(facts.Exception) is not null)
            return new(BackendSignal.Inconclusive, null, false, "unreadable body", Problem.UnreadableBody);

        switch (facts.Error)
        {
            case ForwarderError.Request or ForwarderError.RequestCreation when !facts.ResponseStarted && Find<Clusters.BackendNotAllowedException>(facts.Exception) is not null:
                // Not the backend's failure but the pool's rule: another backend may be allowed.
                return new(BackendSignal.Inconclusive, null, retry.OnConnectFailure, "backend not allowed", Problem.BackendNotAllowed);
            case ForwarderError.Request or ForwarderError.RequestCreation when !facts.ResponseStarted && Find<System.Security.Authentication.AuthenticationException>(facts.Exception) is { } tls:
                // The backend's certificate (or the handshake) was refused: another backend may present a good one.
                return new(BackendSignal.Failed, "TLS failure", retry.OnConnectFailure, "TLS failure", Problem.BackendTls(tls.Message));
            case ForwarderError.Request or ForwarderError.RequestCreation when !facts.ResponseStarted:
            {
                var connectFailure = IsConnectFailure(facts.Exception);
                var reason = connectFailure ? "connect failure" : "transport failure";
                return new(BackendSignal.Failed, reason, connectFailure ? retry.OnConnectFailure : retry.OnReset, reason,
                    Problem.BackendUnreachable("The request could not be forwarded to the backend, or the backend gave no valid answer."));
            }
            case ForwarderError.RequestTimedOut or ForwarderError.RequestCanceled when !facts.ResponseStarted:
            {
                // YARP's activity time-out, the connect time-out, or this worker's response-headers timer.
                var connectTimeout = Find<TimeoutException>(facts.Exception) is not null;
                return new(BackendSignal.Failed, "time-out", retry.OnTimeout || (connectTimeout && retry.OnConnectFailure), connectTimeout ? "connect time-out" : "time-out",
                    Problem.BackendTimeout(facts.HeadersTimedOut
                        ? "The backend did not send its response headers before the cluster's time-out."
                        : "The backend did not answer before the cluster's time-out."));
            }
            case ForwarderError.RequestBodyClient when !facts.ResponseStarted:
                // The client's body broke off or was malformed (a chunk size that overflows): its fault, not the backend's.
                return new(BackendSignal.Inconclusive, null, false, "unreadable body", Problem.UnreadableBody);
            case ForwarderError.ResponseHeaders:
                return new(BackendSignal.Failed, "invalid response", false, "invalid response", Problem.BackendUnreachable("The backend gave no valid answer."));
            case ForwarderError.ResponseBodyDestination when !facts.ResponseStarted:
                // The backend's connection broke after its headers, before a byte reached the client
                // (a backend killed mid-response): as safe to retry as a reset before the headers.
                return new(BackendSignal.Failed, "reset", retry.OnReset, "reset", Problem.BackendUnreachable("The backend's connection broke before its response was complete."));
            case ForwarderError.ResponseBodyDestination or ForwarderError.UpgradeResponseDestination or ForwarderError.UpgradeRequestDestination:
                return new(BackendSignal.Failed, facts.Error.ToString(), false, null, null);
            default:
                // The client's side of a body or stream failed, or the response had started: nothing to answer.
                if (facts.ResponseStarted)
                    return Unjudged;
                var error = facts.Error.ToString();
                return new(BackendSignal.Inconclusive, null, false, error, Problem.ForwardingFailed(error));
        }
    }

    private static bool IsConnectFailure(Exception? exception) =>
        exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError }
        || Find<SocketException>(exception) is { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostNotFound };

    private static T? Find<T>(Exception? exception) where T : Exception
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is T found)
                return found;
            if (current is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    if (Find<T>(inner) is { } nested)
                        return nested;
                }
            }
        }
        return null;
    }
}
