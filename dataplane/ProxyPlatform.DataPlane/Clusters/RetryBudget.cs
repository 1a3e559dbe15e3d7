namespace ProxyPlatform.DataPlane.Clusters;

/// <summary>
/// Envoy's retry budget: retries in flight may be at most 20% of the cluster's requests in flight,
/// but 3 are always allowed, so a lone client's sequential requests are retried while an outage
/// cannot be amplified by every request trying every backend.
/// </summary>
public sealed class RetryBudget
{
    private const double Ratio = 0.2;
    private const int Floor = 3;
    private int _active;
    private int _retries;

    public int Active => Volatile.Read(ref _active);
    public void RequestStarted() => Interlocked.Increment(ref _active);
    public void RequestFinished() => Interlocked.Decrement(ref _active);

    public bool TryStartRetry()
    {
        while (true)
        {
            var retries = Volatile.Read(ref _retries);
            if (retries >= Math.Max(Floor, (int)(Volatile.Read(ref _active) * Ratio)))
                return false;
            if (Interlocked.CompareExchange(ref _retries, retries + 1, retries) == retries)
                return true;
        }
    }

    public void RetryFinished() => Interlocked.Decrement(ref _retries);
}
