using System.Collections.Concurrent;

namespace ProxyPlatform.DataPlane.RateLimiting;

/// <summary>
/// A route's rate limit: one token bucket per key (the client's address, or a header's value),
/// refilled at <c>requestsPerSecond</c> up to <c>burst</c>. The table of buckets has a hard cap
/// (<c>Proxy:RateLimitMaxKeys</c>), since a <c>header:</c> key is whatever clients send: a table at
/// its cap allocates no bucket until it has evicted one.
/// </summary>
/// <remarks>
/// Eviction frees a batch (a hundredth of the cap) at a time, so a flood of new keys costs one scan
/// per batch rather than one per request: first every bucket that has refilled completely (forgetting
/// it changes nothing, since a new key starts full), then, if that is not enough, the buckets idle the
/// longest. A client whose partly drained bucket is evicted gets a fresh, full bucket on its next
/// request: at most <c>burst</c> requests more than it would otherwise have had, exactly what a new
/// client gets, and only once per eviction of its own bucket, which needs the table to fill with a
/// hundredth of the cap of keys more recently used than it.
/// </remarks>
public sealed class TokenBucketLimiter(double requestsPerSecond, int burst, string? header, int maxKeys = TokenBucketLimiter.DefaultMaxKeys, TimeProvider? time = null)
{
    /// <summary>The cap of <c>Proxy:RateLimitMaxKeys</c> when unset: ~10 MB of buckets per route at most.</summary>
    public const int DefaultMaxKeys = 100_000;

    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _evicting = new();
    // Buckets held or being added: counted apart, since ConcurrentDictionary.Count takes every lock of the table.
    private int _count;

    /// <summary>The header whose value is the key, or null to key by client address.</summary>
    public string? Header { get; } = header;
    public double RequestsPerSecond { get; } = requestsPerSecond;
    public int Burst { get; } = burst;
    /// <summary>The most keys the table holds.</summary>
    public int MaxKeys { get; } = maxKeys >= 1 ? maxKeys : throw new ArgumentOutOfRangeException(nameof(maxKeys), maxKeys, "at least 1");

    /// <summary>How many keys have a bucket now.</summary>
    public int Keys => Volatile.Read(ref _count);

    /// <summary>Takes a token for <paramref name="key"/>; when there is none, says how long until there is.</summary>
    public bool TryAcquire(string key, out TimeSpan retryAfter)
    {
        var now = _time.GetTimestamp();
        var bucket = _buckets.TryGetValue(key, out var held) ? held : Admit(key, now);
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

    /// <summary>A bucket for a key the table does not hold: a slot is reserved first, so the table never passes its cap.</summary>
    private Bucket Admit(string key, long now)
    {
        while (true)
        {
            if (_buckets.TryGetValue(key, out var held))
                return held;
            if (TryReserve())
            {
                // A new client's bucket starts full as of this request: stamped any later, the first refill
                // would be negative and a burst of 1 would refuse every new client's first request.
                var fresh = new Bucket(Burst, now);
                if (_buckets.TryAdd(key, fresh))
                    return fresh;
                Interlocked.Decrement(ref _count);
                continue;
            }
            Evict(now);
        }
    }

    // Takes a place in the table only below the cap, so the count never passes it, not even for a moment.
    private bool TryReserve()
    {
        var count = Volatile.Read(ref _count);
        while (count < MaxKeys)
        {
            var seen = Interlocked.CompareExchange(ref _count, count + 1, count);
            if (seen == count)
                return true;
            count = seen;
        }
        return false;
    }

    private void Evict(long now)
    {
        lock (_evicting)
        {
            if (Volatile.Read(ref _count) < MaxKeys)
                return;
            var batch = Math.Max(1, MaxKeys / 100);
            var freed = 0;
            // The idlest buckets seen, the most recently used of them on top, to be evicted if full ones do not free enough.
            var idlest = new PriorityQueue<KeyValuePair<string, Bucket>, long>(batch + 1, Comparer<long>.Create((a, b) => b.CompareTo(a)));
            foreach (var entry in _buckets)
            {
                double tokens;
                long used;
                lock (entry.Value)
                {
                    used = entry.Value.Updated;
                    tokens = TokensAt(entry.Value, now);
                }
                if (tokens >= Burst)
                {
                    if (Remove(entry))
                        freed++;
                    continue;
                }
                if (freed >= batch)
                    continue;
                idlest.Enqueue(entry, used);
                if (idlest.Count > batch)
                    idlest.Dequeue();
            }
            // The idlest are at the bottom of the queue: take them from there.
            var candidates = new List<KeyValuePair<string, Bucket>>(idlest.Count);
            while (idlest.TryDequeue(out var entry, out _))
                candidates.Add(entry);
            for (var i = candidates.Count - 1; i >= 0 && freed < batch; i--)
            {
                if (Remove(candidates[i]))
                    freed++;
            }
        }
    }

    private bool Remove(KeyValuePair<string, Bucket> entry)
    {
        if (!_buckets.TryRemove(entry))
            return false;
        Interlocked.Decrement(ref _count);
        return true;
    }

    private double TokensAt(Bucket bucket, long now) =>
        Math.Min(Burst, bucket.Tokens + (double)Math.Max(0, now - bucket.Updated) / _time.TimestampFrequency * RequestsPerSecond);

    private void Refill(Bucket bucket, long now)
    {
        bucket.Tokens = TokensAt(bucket, now);
        bucket.Updated = Math.Max(bucket.Updated, now);
    }

    private sealed class Bucket(double tokens, long updated)
    {
        public double Tokens = tokens;
        public long Updated = updated;
    }
}
