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
}
