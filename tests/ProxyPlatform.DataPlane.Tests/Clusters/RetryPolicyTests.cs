using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;

namespace ProxyPlatform.DataPlane.Tests.Clusters;

public sealed class RetryPolicyTests
{
    [Theory]
    [InlineData("GET", true)]
    [InlineData("head", true)]
    [InlineData("OPTIONS", true)]
    [InlineData("PUT", true)]
    [InlineData("DELETE", true)]
    [InlineData("POST", false)]
    [InlineData("PATCH", false)]
    [InlineData("PURGE", false)]
    public void Only_safe_and_idempotent_methods_are_sent_twice(string method, bool allowed)
    {
        Assert.Equal(allowed, RetryPolicy.From(new RetrySpec { MaxAttempts = 2 }).Allows(method));
        Assert.False(RetryPolicy.From(new RetrySpec { MaxAttempts = 1 }).Allows(method));
    }

    [Fact]
    public void Without_a_policy_a_request_is_retried_once_after_a_connect_failure_only()
    {
        var policy = RetryPolicy.From(null);

        Assert.Equal(2, policy.MaxAttempts);
        Assert.True(policy.OnConnectFailure);
        Assert.False(policy.OnReset);
        Assert.False(policy.OnTimeout);
        Assert.False(policy.RetriesStatus(503));
        Assert.True(policy.AllowsAnotherAfter(1));
        Assert.False(policy.AllowsAnotherAfter(2));
    }

    [Fact]
    public void Retry_on_names_the_failures_and_statuses_worth_another_attempt()
    {
        var policy = RetryPolicy.From(new RetrySpec { MaxAttempts = 3, RetryOn = ["reset", "timeout", "502", "504"] });

        Assert.False(policy.OnConnectFailure);
        Assert.True(policy.OnReset);
        Assert.True(policy.OnTimeout);
        Assert.True(policy.RetriesStatus(502));
        Assert.False(policy.RetriesStatus(503));
        Assert.True(policy.RetriesStatus(504));
        Assert.True(policy.AllowsAnotherAfter(2));
        Assert.False(policy.AllowsAnotherAfter(3));
    }

    [Fact]
    public void A_body_is_kept_for_replay_only_when_its_length_is_known_and_within_the_buffer()
    {
        var policy = RetryPolicy.From(new RetrySpec { MaxAttempts = 2, MaxBufferedBodyBytes = 1000 });

        Assert.True(policy.CanReplay(0));
        Assert.True(policy.CanReplay(1000));
        Assert.False(policy.CanReplay(1001));
        Assert.False(policy.CanReplay(null));
        Assert.False(RetryPolicy.From(new RetrySpec { MaxAttempts = 1, MaxBufferedBodyBytes = 1000 }).CanReplay(10));
    }
}
