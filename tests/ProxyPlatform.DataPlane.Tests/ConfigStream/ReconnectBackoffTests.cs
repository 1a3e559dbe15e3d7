using ProxyPlatform.DataPlane.ConfigStream;

namespace ProxyPlatform.DataPlane.Tests.ConfigStream;

public sealed class ReconnectBackoffTests
{
    [Fact]
    public void Waits_are_jittered_below_a_ceiling_that_doubles_up_to_the_cap_and_starts_over_after_a_reset()
    {
        var backoff = new ReconnectBackoff(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));
        var ceilings = new List<double>();
        for (var i = 0; i < 8; i++)
        {
            var ceiling = backoff.Ceiling;
            ceilings.Add(ceiling.TotalMilliseconds);
            var wait = backoff.Next();
            Assert.InRange(wait, TimeSpan.Zero, ceiling);
        }

        Assert.Equal([200, 400, 800, 1600, 3200, 5000, 5000, 5000], ceilings);
        backoff.Reset();
        Assert.Equal(TimeSpan.FromMilliseconds(200), backoff.Ceiling);
    }
}
