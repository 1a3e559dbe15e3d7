using System.Net;
using System.Net.Sockets;

namespace ProxyPlatform.Testing;

/// <summary>Free loopback TCP ports for listeners a test starts; never the same port twice in one process.</summary>
public static class FreePort
{
    private static readonly HashSet<int> Given = [];

    /// <summary>
    /// A port that was free on 127.0.0.1 a moment ago (the OS picks it; it is released before
    /// returning, so a process started later can bind it).
    /// </summary>
    public static int Get()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            lock (Given)
            {
                if (Given.Add(port))
                    return port;
            }
        }
    }
}
