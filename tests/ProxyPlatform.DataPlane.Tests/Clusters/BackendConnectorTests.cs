using System.Net;
using System.Net.Sockets;
using ProxyPlatform.DataPlane.Clusters;

namespace ProxyPlatform.DataPlane.Tests.Clusters;

/// <summary>The connect-time check of backends named by host name against the pool's allowed networks, on real sockets.</summary>
public sealed class BackendConnectorTests : IDisposable
{
    private readonly TcpListener _backend = new(IPAddress.Loopback, 0);

    public BackendConnectorTests() => _backend.Start();

    private int Port => ((IPEndPoint)_backend.LocalEndpoint).Port;

    public void Dispose() => _backend.Dispose();

    [Fact]
    public async Task A_host_name_that_resolves_outside_the_allowed_networks_is_never_dialled()
    {
        var connector = new BackendConnector(null) { AllowedNetworks = ["10.0.0.0/8", "fd00::/8"] };

        var refused = await Assert.ThrowsAsync<BackendNotAllowedException>(() => connector.ConnectAsync(new DnsEndPoint("localhost", Port), TestContext.Current.CancellationToken).AsTask());

        Assert.Contains("localhost", refused.Message, StringComparison.Ordinal);
        Assert.Contains("10.0.0.0/8", refused.Message, StringComparison.Ordinal);
        Assert.False(_backend.Pending());
    }

    [Fact]
    public async Task Through_an_HTTP_handler_the_refusal_is_what_the_request_fails_with()
    {
        var connector = new BackendConnector(null) { AllowedNetworks = ["10.0.0.0/8"] };
        using var client = new HttpMessageInvoker(new SocketsHttpHandler { ConnectCallback = connector.ConnectAsync });

        var failure = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"http://localhost:{Port}/"), TestContext.Current.CancellationToken));

        Assert.IsType<BackendNotAllowedException>(failure.InnerException);
        Assert.False(_backend.Pending());
    }

    [Fact]
    public async Task An_address_literal_outside_the_allowed_networks_is_never_dialled()
    {
        var connector = new BackendConnector(null) { AllowedNetworks = ["10.0.0.0/8"] };

        await Assert.ThrowsAsync<BackendNotAllowedException>(() => connector.ConnectAsync(new DnsEndPoint("127.0.0.1", Port), TestContext.Current.CancellationToken).AsTask());
        Assert.False(_backend.Pending());
    }

    [Theory]
    [InlineData("localhost", "127.0.0.0/8")]
    [InlineData("localhost", null)]
    public async Task A_host_name_that_resolves_inside_the_allowed_networks_or_with_no_list_is_connected(string host, string? network)
    {
        var connector = new BackendConnector(null) { AllowedNetworks = network is null ? null : [network] };

        await using var stream = await connector.ConnectAsync(new DnsEndPoint(host, Port), TestContext.Current.CancellationToken);

        using var accepted = await _backend.AcceptSocketAsync(TestContext.Current.CancellationToken);
        Assert.True(accepted.Connected);
    }

    [Fact]
    public async Task A_connection_from_the_bind_address_is_still_checked()
    {
        var connector = new BackendConnector(IPAddress.Loopback) { AllowedNetworks = ["127.0.0.1/32"] };

        await using (var stream = await connector.ConnectAsync(new DnsEndPoint("127.0.0.1", Port), TestContext.Current.CancellationToken))
        {
            using var accepted = await _backend.AcceptSocketAsync(TestContext.Current.CancellationToken);
            Assert.Equal(IPAddress.Loopback, ((IPEndPoint)accepted.RemoteEndPoint!).Address);
        }

        connector.AllowedNetworks = ["10.0.0.0/8"];
        await Assert.ThrowsAsync<BackendNotAllowedException>(() => connector.ConnectAsync(new DnsEndPoint("localhost", Port), TestContext.Current.CancellationToken).AsTask());
    }
}
