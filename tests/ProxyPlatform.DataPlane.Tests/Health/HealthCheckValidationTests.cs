using ProxyPlatform.Configuration;

namespace ProxyPlatform.DataPlane.Tests.Health;

public sealed class HealthCheckValidationTests
{
    private static IEnumerable<string> FieldsAtFault(HealthCheckSpec check) =>
        ConfigValidator.Validate(new ClusterSpec { HealthCheck = check }).Select(e => e.Field);

    [Fact]
    public void Defaults_and_fractional_seconds_down_to_a_fifth_are_valid()
    {
        Assert.Empty(FieldsAtFault(new HealthCheckSpec()));
        Assert.Empty(FieldsAtFault(new HealthCheckSpec { IntervalSeconds = 0.2, TimeoutSeconds = 0.2, ExpectedStatus = "200,204,300-302", Panic = true }));
    }

    [Theory]
    [InlineData(0.1, 0.1, "healthCheck.intervalSeconds")]
    [InlineData(5, 0, "healthCheck.timeoutSeconds")]
    [InlineData(1, 2, "healthCheck.timeoutSeconds")]
    [InlineData(4000, 2, "healthCheck.intervalSeconds")]
    public void Intervals_and_time_outs_out_of_range_are_named(double interval, double timeout, string field)
    {
        Assert.Contains(field, FieldsAtFault(new HealthCheckSpec { IntervalSeconds = interval, TimeoutSeconds = timeout }));
    }

    [Theory]
    [InlineData("")]
    [InlineData("2xx")]
    [InlineData("399-200")]
    [InlineData("200-")]
    [InlineData("99")]
    [InlineData("200,600")]
    public void An_expected_status_that_is_not_a_range_of_statuses_is_named(string expected)
    {
        Assert.Equal(["healthCheck.expectedStatus"], FieldsAtFault(new HealthCheckSpec { ExpectedStatus = expected }));
    }

    [Fact]
    public void Status_ranges_contain_their_bounds_and_listed_statuses_only()
    {
        Assert.True(StatusRanges.TryParse("200-299, 404", out var ranges));
        Assert.True(ranges.Contains(200));
        Assert.True(ranges.Contains(299));
        Assert.True(ranges.Contains(404));
        Assert.False(ranges.Contains(300));
        Assert.False(ranges.Contains(503));
    }
}
