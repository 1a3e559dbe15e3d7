using Microsoft.Extensions.Configuration;
using ProxyPlatform.DataPlane.Hosting;

namespace ProxyPlatform.DataPlane.Tests.Hosting;

public sealed class DataPlaneOptionsTests
{
    private static DataPlaneOptions From(params (string Key, string Value)[] settings) =>
        DataPlaneOptions.From(new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)))
            .Build());

    [Fact]
    public void Defaults_follow_the_design()
    {
        var options = From();

        Assert.Equal([new Uri("http://127.0.0.1:5101")], options.ControlPlaneUrls);
        Assert.Equal(new Uri("http://0.0.0.0:8080"), options.ProxyUrl);
        Assert.Equal(new Uri("http://127.0.0.1:9090"), options.OpsUrl);
        Assert.Equal("default", options.Pool);
        Assert.Equal($"{Environment.MachineName}-8080", options.WorkerId);
        Assert.Equal(Path.GetFullPath(Path.Combine("data", options.WorkerId)), options.DataDir);
        Assert.Equal(TimeSpan.FromSeconds(10), options.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), options.MetricsInterval);
        Assert.Null(options.DataPlaneToken);
        Assert.Null(options.MaxRequestBodyBytes);
    }

    [Fact]
    public void Control_plane_urls_are_a_comma_separated_list_tried_in_order()
    {
        var options = From(("ControlPlane:Url", "http://10.0.0.1:5101, http://10.0.0.2:5101"));

        Assert.Equal([new Uri("http://10.0.0.1:5101"), new Uri("http://10.0.0.2:5101")], options.ControlPlaneUrls);
    }

    [Fact]
    public void Worker_identity_defaults_to_the_machine_name_and_the_proxy_port()
    {
        var options = From(("Proxy:Url", "http://127.0.0.1:18080"), ("DataPlane:Pool", "blue"), ("Auth:DataPlaneToken", "t0ken"));

        Assert.Equal($"{Environment.MachineName}-18080", options.WorkerId);
        Assert.Equal("blue", options.Pool);
        Assert.Equal("t0ken", options.DataPlaneToken);
    }

    [Fact]
    public void Listeners_on_port_0_take_any_free_port_each_and_then_the_worker_needs_an_explicit_id()
    {
        (string, string)[] anyPorts = [("Proxy:Url", "http://127.0.0.1:0"), ("Ops:Url", "http://127.0.0.1:0"), ("Proxy:H2cUrl", "http://127.0.0.1:0")];

        var error = Assert.Throws<InvalidOperationException>(() => From(anyPorts));
        Assert.Contains("DataPlane:Id", error.Message, StringComparison.Ordinal);

        var options = From([.. anyPorts, ("DataPlane:Id", "w-1")]);
        Assert.Equal((0, 0, 0), (options.ProxyUrl.Port, options.OpsUrl.Port, options.H2cUrl!.Port));
        Assert.Equal("w-1", options.WorkerId);
    }

    [Theory]
    [InlineData("Proxy:Url", "http://127.0.0.1:9090")]
    [InlineData("Proxy:Url", "example.com:8080")]
    [InlineData("Proxy:Url", "http://proxy.example.com:8080")]
    [InlineData("Ops:Url", "https://127.0.0.1:9443")]
    [InlineData("ControlPlane:Url", "127.0.0.1:5101")]
    [InlineData("DataPlane:Pool", "Blue Pool")]
    [InlineData("DataPlane:Id", "a/b")]
    [InlineData("ControlPlane:HeartbeatSeconds", "0")]
    [InlineData("DataPlane:MetricsIntervalSeconds", "0")]
    [InlineData("DataPlane:MetricsIntervalSeconds", "3601")]
    [InlineData("Proxy:RateLimitMaxKeys", "0")]
    public void Setting_the_worker_cannot_use_stops_it_with_a_message_naming_the_key(string key, string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => From((key, value)));

        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }
}
