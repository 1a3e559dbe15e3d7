using ProxyPlatform.ControlPlane.DataPlanes;

namespace ProxyPlatform.ControlPlane.Tests.DataPlanes;

public sealed class PoolRevisionsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static (int Revisions, DateTimeOffset? Oldest) Lag(int revisions, DateTimeOffset? oldest) => (revisions, oldest);

    [Fact]
    public void Lag_counts_the_pool_s_own_revisions_above_the_applied_one_and_dates_the_oldest()
    {
        var log = new PoolRevisions(TimeSpan.FromHours(1), 100);
        // Revisions are global: the pool's own are 3, 7 and 12 (the others are other pools').
        log.Add([3], T0, T0);
        log.Add([7], T0.AddSeconds(1), T0);
        log.Add([12], T0.AddSeconds(2), T0);

        Assert.Equal(Lag(3, T0), log.After(0));
        Assert.Equal(Lag(2, T0.AddSeconds(1)), log.After(3));
        Assert.Equal(Lag(2, T0.AddSeconds(1)), log.After(5));
        Assert.Equal(Lag(1, T0.AddSeconds(2)), log.After(7));
        Assert.Equal(Lag(0, null), log.After(12));
        Assert.Equal(12, log.Latest);
        Assert.Equal([7L, 12], log.Between(3, 12).Select(r => r.Revision));
        Assert.Equal(T0.AddSeconds(1), log.CommittedAt(7));
        Assert.Null(log.CommittedAt(8));
    }

    [Fact]
    public void Notices_that_arrive_out_of_order_or_twice_are_kept_in_order_once()
    {
        var log = new PoolRevisions(TimeSpan.FromHours(1), 100);
        Assert.Equal([5L, 6], log.Add([5, 6], T0.AddSeconds(5), T0));
        Assert.Equal([2L], log.Add([2, 5], T0.AddSeconds(2), T0));
        Assert.Empty(log.Add([6], T0.AddSeconds(9), T0));

        Assert.Equal([2L, 5, 6], log.Between(0, 100).Select(r => r.Revision));
        Assert.Equal(T0.AddSeconds(5), log.CommittedAt(6));
    }

    [Fact]
    public void Revisions_older_than_the_window_or_past_the_count_leave_and_raise_the_floor()
    {
        var log = new PoolRevisions(TimeSpan.FromHours(1), 3);
        log.Add([1, 2], T0, T0);
        log.Add([3, 4, 5], T0.AddMinutes(30), T0.AddMinutes(30));
        Assert.Equal(3, log.Count);
        Assert.Equal(2, log.Floor);

        log.Trim(T0.AddMinutes(91));
        Assert.Equal(0, log.Count);
        Assert.Equal(5, log.Floor);
        Assert.Equal(5, log.Latest);
        // A revision at or below the floor is not taken back: the log would claim to know all below it.
        Assert.Empty(log.Add([4], T0.AddMinutes(91), T0.AddMinutes(91)));
    }

    [Fact]
    public void Loading_knows_nothing_below_the_newest_commit_left_out()
    {
        var log = new PoolRevisions(TimeSpan.FromHours(1), 100);
        log.Load([(40, T0.AddMinutes(2)), (30, T0.AddMinutes(1))], leftOut: 20, T0.AddMinutes(3));

        Assert.Equal(20, log.Floor);
        Assert.Equal(40, log.Latest);
        Assert.Equal(Lag(2, T0.AddMinutes(1)), log.After(20));

        log.Load([], leftOut: 50, T0);
        Assert.Equal(50, log.Latest);
        Assert.Equal(0, log.After(10).Revisions);

        log.Load([(9, T0)], leftOut: null, T0);
        Assert.Equal(0, log.Floor);
        Assert.Equal(Lag(1, T0), log.After(0));
    }

    [Fact]
    public void A_large_log_answers_like_a_scan()
    {
        var random = new Random(20);
        var log = new PoolRevisions(TimeSpan.FromHours(1), 10_000);
        var revisions = Enumerable.Range(1, 5_000).Select(i => (long)i * 3 + random.Next(3)).ToList();
        foreach (var chunk in revisions.Chunk(7).OrderBy(_ => random.Next()))
            log.Add(chunk, T0.AddMilliseconds(chunk[0]), T0);

        for (var i = 0; i < 2_000; i++)
        {
            var applied = random.Next(0, 16_000);
            Assert.Equal(revisions.Count(r => r > applied), log.After(applied).Revisions);
            var through = applied + random.Next(0, 100);
            Assert.Equal(revisions.Where(r => r > applied && r <= through), log.Between(applied, through).Select(r => r.Revision));
        }
    }
}
