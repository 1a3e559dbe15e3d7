using Microsoft.Extensions.Time.Testing;
using ProxyPlatform.DataPlane.RateLimiting;

namespace ProxyPlatform.DataPlane.Tests.RateLimiting;

public sealed class TokenBucketLimiterTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void A_new_client_gets_its_whole_burst_at_once_then_waits_for_the_rate(int burst)
    {
        var limiter = new TokenBucketLimiter(requestsPerSecond: 0.01, burst, header: null);

        for (var i = 0; i < burst; i++)
            Assert.True(limiter.TryAcquire("203.0.113.7", out _), $"request {i + 1} of a burst of {burst} was refused");
        Assert.False(limiter.TryAcquire("203.0.113.7", out var retryAfter));
        // One token at 0.01 per second takes up to 100 s.
        Assert.InRange(retryAfter, TimeSpan.FromSeconds(90), TimeSpan.FromSeconds(100));
        Assert.True(limiter.TryAcquire("203.0.113.8", out _));
    }

    [Fact]
    public void The_table_stays_within_its_cap_under_many_distinct_keys_from_many_threads()
    {
        var limiter = new TokenBucketLimiter(requestsPerSecond: 1, burst: 5, header: "X-Key", maxKeys: 1000);
        var highest = 0;
        Parallel.For(0, 8, thread =>
        {
            for (var i = 0; i < 25_000; i++)
            {
                limiter.TryAcquire($"client-{thread}-{i}", out _);
                var keys = limiter.Keys;
                int seen;
                while (keys > (seen = Volatile.Read(ref highest)) && Interlocked.CompareExchange(ref highest, keys, seen) != seen)
                {
                }
            }
        });

        Assert.InRange(limiter.Keys, 1, 1000);
        Assert.True(highest <= 1000, $"the table held {highest} keys at one point");
    }

    [Fact]
    public void Full_buckets_are_evicted_before_a_drained_one_so_its_client_stays_limited()
    {
        var time = new FakeTimeProvider();
        var limiter = new TokenBucketLimiter(requestsPerSecond: 1, burst: 2, header: "X-Key", maxKeys: 10, time);
        for (var i = 0; i < 9; i++)
            Assert.True(limiter.TryAcquire($"quiet-{i}", out _));
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(limiter.TryAcquire("busy", out _));
        Assert.True(limiter.TryAcquire("busy", out _));
        Assert.False(limiter.TryAcquire("busy", out _));
        Assert.Equal(10, limiter.Keys);

        // The table is full: a new key evicts the quiet clients' buckets, which have refilled completely.
        Assert.True(limiter.TryAcquire("new", out _));

        Assert.False(limiter.TryAcquire("busy", out _));
        Assert.True(limiter.Keys <= 10);
    }

    [Fact]
    public void A_client_whose_drained_bucket_is_evicted_gets_no_more_than_a_fresh_bucket()
    {
        var time = new FakeTimeProvider();
        var limiter = new TokenBucketLimiter(requestsPerSecond: 0.001, burst: 3, header: "X-Key", maxKeys: 100, time);
        while (limiter.TryAcquire("heavy", out _))
        {
        }
        // A flood of distinct keys, all more recent than heavy's last request, pushes its bucket out.
        for (var i = 0; i < 1000; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
            limiter.TryAcquire($"flood-{i}", out _);
        }

        var allowed = 0;
        while (limiter.TryAcquire("heavy", out _))
            allowed++;
        Assert.InRange(allowed, 0, limiter.Burst);
        Assert.True(limiter.Keys <= 100);
    }
}
