namespace ProxyPlatform.DataPlane.ConfigStream;

/// <summary>
/// Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, initial·2ⁿ)], so
/// many workers that lost the same control plane do not come back in step.
/// </summary>
public sealed class ReconnectBackoff(TimeSpan initial, TimeSpan cap)
{
    private int _failures;

    /// <summary>The ceiling of the next wait.</summary>
    public TimeSpan Ceiling => TimeSpan.FromMilliseconds(Math.Min(cap.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, Math.Min(_failures, 30))));

    public TimeSpan Next()
    {
        var wait = TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * Ceiling.TotalMilliseconds);
        _failures++;
        return wait;
    }

    /// <summary>Starts over after a stream that worked.</summary>
    public void Reset() => _failures = 0;
}
