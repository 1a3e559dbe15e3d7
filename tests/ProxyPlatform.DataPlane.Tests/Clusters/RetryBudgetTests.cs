using ProxyPlatform.DataPlane.Clusters;

namespace ProxyPlatform.DataPlane.Tests.Clusters;

public sealed class RetryBudgetTests
{
    [Fact]
    public void Three_retries_or_a_fifth_of_the_requests_in_flight_may_be_in_flight()
    {
        var budget = new RetryBudget();
        Assert.True(budget.TryStartRetry());
        Assert.True(budget.TryStartRetry());
        Assert.True(budget.TryStartRetry());
        Assert.False(budget.TryStartRetry());

        for (var i = 0; i < 20; i++)
            budget.RequestStarted();
        Assert.True(budget.TryStartRetry());
        Assert.False(budget.TryStartRetry());

        budget.RetryFinished();
        Assert.True(budget.TryStartRetry());
    }

    [Fact]
    public void A_finished_request_takes_its_share_of_the_budget_with_it()
    {
        var budget = new RetryBudget();
        for (var i = 0; i < 25; i++)
            budget.RequestStarted();
        for (var i = 0; i < 5; i++)
            Assert.True(budget.TryStartRetry());
        Assert.False(budget.TryStartRetry());

        for (var i = 0; i < 10; i++)
            budget.RequestFinished();
        budget.RetryFinished();
        budget.RetryFinished();
        // 15 in flight allow 3, and 3 are still running.
        Assert.False(budget.TryStartRetry());
        budget.RetryFinished();
        Assert.True(budget.TryStartRetry());
    }
}
