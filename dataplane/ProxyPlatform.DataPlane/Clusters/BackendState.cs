namespace ProxyPlatform.DataPlane.Clusters;

/// <summary>
/// What the worker knows of a backend from its own traffic: requests in flight (for least-requests
/// balancing) and a circuit breaker. Closed: requests flow; after <c>consecutiveFailures</c>
/// failures in a row it opens and gets nothing; after <c>openSeconds</c> one request is let through
/// (half-open): its success closes the circuit, its failure opens it again.
/// </summary>
public sealed class BackendState
{
    private const int Closed = 0, Open = 1, HalfOpen = 2;

    private int _inFlight;
    private int _circuit;
    private int _consecutiveFailures;
    private long _openUntil;

    public int InFlight => Volatile.Read(ref _inFlight);
    /// <summary>Live requests that failed in a row (the passive outlier signal health reports carry).</summary>
    public int ConsecutiveFailures => Volatile.Read(ref _consecutiveFailures);
    public bool IsOpen => Volatile.Read(ref _circuit) != Closed;
    public string Circuit => Volatile.Read(ref _circuit) switch { Open => "open", HalfOpen => "half-open", _ => "closed" };

    public void Started() => Interlocked.Increment(ref _inFlight);
    public void Finished() => Interlocked.Decrement(ref _inFlight);

    /// <summary>True when a balancer may choose the backend: closed, or open long enough for a probe.</summary>
    public bool IsSelectable(long now) => Volatile.Read(ref _circuit) switch
    {
        Closed => true,
        Open => now >= Volatile.Read(ref _openUntil),
        _ => false,
    };

    /// <summary>Takes the right to send to a chosen backend: always when closed; for one probe when its open time is over.</summary>
    public bool TryAcquire(long now)
    {
        var circuit = Volatile.Read(ref _circuit);
        if (circuit == Closed)
            return true;
        return circuit == Open && now >= Volatile.Read(ref _openUntil)
            && Interlocked.CompareExchange(ref _circuit, HalfOpen, Open) == Open;
    }

    public void Succeeded()
    {
        Volatile.Write(ref _consecutiveFailures, 0);
        if (Volatile.Read(ref _circuit) != Closed)
            Volatile.Write(ref _circuit, Closed);
    }

    /// <summary>Counts a failure; opens the circuit when <paramref name="breaker"/> says so. Returns true when it opened.</summary>
    public bool Failed(CircuitBreakerSettings? breaker, long now)
    {
        var failures = Interlocked.Increment(ref _consecutiveFailures);
        if (breaker is null)
            return false;
        var circuit = Volatile.Read(ref _circuit);
        if (circuit == HalfOpen || (circuit == Closed && failures >= breaker.ConsecutiveFailures))
        {
            Volatile.Write(ref _openUntil, now + breaker.OpenTicks);
            Volatile.Write(ref _circuit, Open);
            return true;
        }
        return false;
    }

    /// <summary>A probe that ended without a verdict (the client went away): let another probe through.</summary>
    public void ProbeAbandoned()
    {
        Interlocked.CompareExchange(ref _circuit, Open, HalfOpen);
    }
}

public sealed record CircuitBreakerSettings(int ConsecutiveFailures, long OpenTicks);
