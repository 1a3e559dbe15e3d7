using ProxyPlatform.ControlPlane.DataPlanes;

namespace ProxyPlatform.ControlPlane.Tests.DataPlanes;

public sealed class ConvergenceWindowTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Percentiles_are_the_nearest_rank_of_the_samples()
    {
        var window = new ConvergenceWindow(TimeSpan.FromHours(1), 1000);
        // 1..100 ms, added out of order.
        foreach (var ms in Enumerable.Range(1, 100).Reverse())
            window.Add(ms, T0, T0.AddMilliseconds(ms));

        var (p50, p99) = window.Percentiles(T0.AddSeconds(1))!.Value;
        Assert.Equal(50, p50);
        Assert.Equal(99, p99);
    }

    [Fact]
    public void One_sample_is_its_own_median_and_99th_percentile_and_an_empty_window_has_none()
    {
        var window = new ConvergenceWindow(TimeSpan.FromHours(1), 1000);
        Assert.Null(window.Percentiles(T0));

        window.Add(7, T0, T0.AddMilliseconds(12.5));
        Assert.Equal((12.5, 12.5), window.Percentiles(T0)!.Value);
    }

    [Theory]
    [InlineData(new double[] { 5 }, 0.5, 5)]
    [InlineData(new double[] { 1, 2 }, 0.5, 1)]
    [InlineData(new double[] { 1, 2 }, 0.99, 2)]
    [InlineData(new double[] { 1, 2, 3 }, 0.5, 2)]
    [InlineData(new double[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, 0.99, 10)]
    [InlineData(new double[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, 0.9, 9)]
    public void Nearest_rank_never_reads_past_either_end(double[] sorted, double quantile, double expected) =>
        Assert.Equal(expected, ConvergenceWindow.NearestRank(sorted, quantile));

    [Fact]
    public void Samples_older_than_the_window_leave_it()
    {
        var window = new ConvergenceWindow(TimeSpan.FromHours(1), 1000);
        window.Add(1, T0, T0.AddSeconds(10));
        window.Add(2, T0.AddMinutes(30), T0.AddMinutes(30).AddMilliseconds(20));

        Assert.Equal((20.0, 10_000.0), window.Percentiles(T0.AddMinutes(50))!.Value);
        // An hour after the first acknowledgement only the second is left.
        Assert.Equal((20.0, 20.0), window.Percentiles(T0.AddMinutes(61))!.Value);
        Assert.Null(window.ApplyTimeOf(1));
        Assert.Equal(20, window.ApplyTimeOf(2));
        Assert.Null(window.Percentiles(T0.AddMinutes(91)));
        Assert.Equal(0, window.Count);
    }

    [Fact]
    public void The_window_keeps_at_most_its_count_the_newest()
    {
        var window = new ConvergenceWindow(TimeSpan.FromHours(1), 3);
        for (var revision = 1; revision <= 10; revision++)
            window.Add(revision, T0, T0.AddMilliseconds(revision));

        Assert.Equal(3, window.Count);
        Assert.Null(window.ApplyTimeOf(7));
        Assert.Equal([8.0, 9.0, 10.0], new[] { 8L, 9, 10 }.Select(r => window.ApplyTimeOf(r)!.Value));
    }

    [Fact]
    public void A_worker_clock_behind_the_commit_gives_zero_not_a_negative_time()
    {
        var window = new ConvergenceWindow(TimeSpan.FromHours(1), 10);
        window.Add(1, T0, T0.AddMilliseconds(-3));
        Assert.Equal(0, window.ApplyTimeOf(1));
    }
}
