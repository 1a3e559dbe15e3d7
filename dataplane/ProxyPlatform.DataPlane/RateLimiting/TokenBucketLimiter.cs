using System.Collections.Concurrent;
using System.Diagnostics;

namespace ProxyPlatform.DataPlane.RateLimiting;

/// <summary>
/// A route's rate limit: one token bucket per key (the client's address, or a header's value),
/// refilled at <c>requestsPerSecond</c> up to <c>burst</c>. Buckets that have refilled completely
/// are forgotten when the table grows, so a flood of distinct keys cannot grow it without bound.
/// </summary>
public sealed class TokenBucketLimiter(double requestsPerSecond, int burst, string? header)
{
    private const int PruneAbove = 10_000;
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    /// <summary>The header whose value is the key, or null to key by client address.</summary>
    public string? Header { get; } = header;
    public double RequestsPerSecond { get; } = requestsPerSecond;
    public int Burst { get; } = burst;

    /// <summary>Takes a token for <paramref name="key"/>; when there is none, says how long until there is.</summary>
    public bool TryAcquire(string key, out TimeSpan retryAfter)
    {
        var now = Stopwatch.GetTimestamp();
        if (_buckets.Count > PruneAbove)
            Prune(now);
        // A new client's bucket starts full as of this request: stamped any later, the first refill
        // would be negative and a burst of 1 would refuse every new client's first request.
        var bucket = _buckets.GetOrAdd(key, static (_, start) => new Bucket(start.Burst, start.Now), (Burst, Now: now));
        lock (bucket)
        {
            Refill(bucket, now);
            if (bucket.Tokens >= 1)
            {
                bucket.Tokens -= 1;
                retryAfter = TimeSpan.Zero;
                return true;
            }
            retryAfter = TimeSpan.FromSeconds((1 - bucket.Tokens) / RequestsPerSecond);
            return false;
        }
    }

    private void Refill(Bucket bucket, long now)
    {
        var elapsed = (double)(now - bucket.Updated) / Stopwatch.Frequency;
        bucket.Tokens = Math.Min(Burst, bucket.Tokens + elapsed * RequestsPerSecond);
        bucket.Updated = now;
    }

    private void Prune(long now)
    {
        foreach (var (key, bucket) in _buckets)
        {
            lock (bucket)
            {
                Refill(bucket, now);
                if (bucket.Tokens >= Burst)
                    _buckets.TryRemove(key, out _);
            }
        }
    }

    private sealed class Bucket(double tokens, long updated)
    {
        public double Tokens = tokens;
        public long Updated = updated;
    }
}
