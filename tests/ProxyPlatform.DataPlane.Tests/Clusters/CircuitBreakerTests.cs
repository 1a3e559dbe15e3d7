using ProxyPlatform.DataPlane.Clusters;

namespace ProxyPlatform.DataPlane.Tests.Clusters;

public sealed class CircuitBreakerTests
{
    private static readonly CircuitBreakerSettings Breaker = new(ConsecutiveFailures: 3, OpenTicks: 1000);

    [Fact]
    public void Circuit_opens_after_consecutive_failures_only()
    {
        var state = new BackendState();
        state.Failed(Breaker, now: 0);
        state.Failed(Breaker, now: 0);
        state.Succeeded();
        state.Failed(Breaker, now: 0);
        state.Failed(Breaker, now: 0);
        Assert.False(state.IsOpen);

        Assert.True(state.Failed(Breaker, now: 0));
        Assert.True(state.IsOpen);
        Assert.False(state.IsSelectable(now: 999));
        Assert.False(state.TryAcquire(now: 999));
    }

    [Fact]
    public void After_the_open_time_exactly_one_probe_goes_through_and_its_success_closes_the_circuit()
    {
        var state = new BackendState();
        for (var i = 0; i < 3; i++)
            state.Failed(Breaker, now: 0);

        Assert.True(state.IsSelectable(now: 1000));
        Assert.True(state.TryAcquire(now: 1000));
        Assert.Equal("half-open", state.Circuit);
        Assert.False(state.TryAcquire(now: 1000));
        Assert.False(state.IsSelectable(now: 5000));

        state.Succeeded();
        Assert.Equal("closed", state.Circuit);
        Assert.True(state.TryAcquire(now: 1001));
    }

    [Fact]
    public void A_failed_probe_opens_the_circuit_again_for_the_whole_open_time()
    {
        var state = new BackendState();
        for (var i = 0; i < 3; i++)
            state.Failed(Breaker, now: 0);
        Assert.True(state.TryAcquire(now: 1000));

        Assert.True(state.Failed(Breaker, now: 1000));
        Assert.Equal("open", state.Circuit);
        Assert.False(state.IsSelectable(now: 1999));
        Assert.True(state.IsSelectable(now: 2000));
    }

    [Fact]
    public void An_abandoned_probe_lets_another_probe_through()
    {
        var state = new BackendState();
        for (var i = 0; i < 3; i++)
            state.Failed(Breaker, now: 0);
        Assert.True(state.TryAcquire(now: 1000));

        state.ProbeAbandoned();
        Assert.True(state.TryAcquire(now: 1000));
    }

    [Fact]
    public void Without_a_breaker_failures_never_open_the_circuit()
    {
        var state = new BackendState();
        for (var i = 0; i < 100; i++)
            Assert.False(state.Failed(null, now: 0));
        Assert.True(state.TryAcquire(now: 0));
    }
}
