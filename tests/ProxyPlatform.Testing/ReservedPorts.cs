using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ProxyPlatform.Testing;

/// <summary>
/// Ports for what cannot bind port 0 and say which port it got: Orleans' silo and gateway (a silo
/// advertises its endpoints in the membership table before it binds them), PostgreSQL, nginx and
/// HAProxy in the benchmarks, and addresses where nothing may ever listen. Every Kestrel listener a
/// test starts binds port 0 instead.
/// </summary>
/// <remarks>
/// A reserved port lies outside the kernel's ephemeral range (<c>/proc/sys/net/ipv4/ip_local_port_range</c>),
/// so no outgoing connection on the machine can take it as its local port; could be bound when it
/// was taken; and is held machine-wide for the life of this process by an exclusive lock (flock) on
/// <c>/tmp/proxyplatform-ports/&lt;port&gt;</c>, which the kernel releases however the process ends.
/// Two test runs on one machine therefore never take the same port, and a port is never handed out
/// twice in one process. <c>infra/postgres.sh</c> reserves its server's port the same way.
/// </remarks>
public static class ReservedPorts
{
    /// <summary>Where the lock files live: one per reserved port, named by the port.</summary>
    public const string LockDirectory = "/tmp/proxyplatform-ports";

    /// <summary>Ports are taken from here, less the ephemeral range; from 1024-65535 less that range if nothing is left.</summary>
    private const int PreferredLow = 20000, PreferredHigh = 29999;

    private static readonly Lock Gate = new();
    private static readonly List<FileStream> Held = [];

    /// <summary>A port reserved for this process until it exits.</summary>
    public static int Take()
    {
        lock (Gate)
        {
            var candidates = Candidates();
            var start = Random.Shared.Next(candidates.Count);
            for (var i = 0; i < candidates.Count; i++)
            {
                var port = candidates[(start + i) % candidates.Count];
                if (TryReserve(port) is { } held)
                {
                    Held.Add(held);
                    return port;
                }
            }
        }
        throw new InvalidOperationException($"Every port outside the ephemeral range is taken or locked under {LockDirectory}.");
    }

    /// <summary>The kernel's ephemeral port range, from which it picks the local ports of outgoing connections and of listeners on port 0.</summary>
    public static (int Low, int High) EphemeralRange()
    {
        var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    private static List<int> Candidates()
    {
        var (low, high) = EphemeralRange();
        var preferred = Enumerable.Range(PreferredLow, PreferredHigh - PreferredLow + 1).Where(p => p < low || p > high).ToList();
        return preferred.Count > 0 ? preferred : [.. Enumerable.Range(1024, 65535 - 1024 + 1).Where(p => p < low || p > high)];
    }

    private static FileStream? TryReserve(int port)
    {
        FileStream held;
        try
        {
            if (!System.IO.Directory.Exists(LockDirectory) && !OperatingSystem.IsWindows())
            {
                // Shared by every user's test runs, like /tmp itself.
                System.IO.Directory.CreateDirectory(LockDirectory);
                File.SetUnixFileMode(LockDirectory, (UnixFileMode)0b1_111_111_111);
            }
            // FileShare.None takes flock(LOCK_EX | LOCK_NB): it fails while any process holds the lock.
            held = new FileStream(Path.Combine(LockDirectory, port.ToString(CultureInfo.InvariantCulture)),
                FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        if (Bindable(port))
            return held;
        held.Dispose();
        return null;
    }

    /// <summary>True when nothing listens on the port, on any address (a wildcard bind fails if any address has it).</summary>
    private static bool Bindable(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Any, port));
            socket.Listen();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
