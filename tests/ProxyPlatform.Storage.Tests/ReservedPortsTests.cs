using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ProxyPlatform.Testing;

namespace ProxyPlatform.Storage.Tests;

/// <summary>The ports the suites reserve for what cannot bind port 0 (Orleans, PostgreSQL), shared by every test run on the machine.</summary>
public sealed class ReservedPortsTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_reserved_port_lies_outside_the_ephemeral_range_is_free_to_bind_and_is_locked_against_other_processes()
    {
        var (low, high) = ReservedPorts.EphemeralRange();
        var ports = Enumerable.Range(0, 20).Select(_ => ReservedPorts.Take()).ToList();

        Assert.Equal(ports.Count, ports.Distinct().Count());
        Assert.All(ports, port => Assert.True(port < low || port > high, $"{port} lies in the ephemeral range {low}-{high}"));
        using (var listener = new TcpListener(IPAddress.Loopback, ports[0]))
            listener.Start();

        // flock(1) from another process, as another test run (or infra/postgres.sh) would try it.
        foreach (var port in ports.Take(3))
            Assert.Equal(LockHeld, await TryLockAsync(Path.Combine(ReservedPorts.LockDirectory, port.ToString(CultureInfo.InvariantCulture))));
        // The same probe on a file nobody holds takes the lock: the refusals above are the reservations'.
        var unheld = Path.Combine(Path.GetTempPath(), $"proxyplatform-port-probe-{Guid.NewGuid():N}");
        try
        {
            Assert.Equal(0, await TryLockAsync(unheld));
        }
        finally
        {
            File.Delete(unheld);
        }
    }

    private const int LockHeld = 99;

    private static async Task<int> TryLockAsync(string path)
    {
        using var flock = Process.Start(new ProcessStartInfo("flock", ["-n", "-E", LockHeld.ToString(CultureInfo.InvariantCulture), path, "true"])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        await flock.WaitForExitAsync(Cancel);
        return flock.ExitCode;
    }
}
