using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace ProxyPlatform.Chaos;

/// <summary>
/// A network namespace joined to the host by a veth pair (10.200.0.1 on the host, 10.200.0.2 inside),
/// where a worker runs so that its control-plane traffic alone can be delayed and dropped: by <c>tc netem</c>
/// where the kernel has it, otherwise by a <see cref="LatencyRelay"/> and iptables' <c>statistic</c> match.
/// Needs root. Removed on dispose (deleting the namespace deletes the pair).
/// </summary>
public sealed class NetworkNamespace : IAsyncDisposable
{
    public const string Name = "ppchaos";
    public const string HostIp = "10.200.0.1";
    public const string InsideIp = "10.200.0.2";
    private const string HostSide = "ppchaos0";
    private const string InsideSide = "ppchaos1";
    /// <summary>The host's iptables chain for the drops of the namespace's packets (the jump to it matches the host side of the pair).</summary>
    private const string HostChain = "PPCHAOS";

    private bool _impaired;
    private bool _dropping;

    private NetworkNamespace()
    {
    }

    /// <summary>The command that runs a program inside the namespace.</summary>
    public string[] Launcher => ["ip", "netns", "exec", Name];

    public static async Task<NetworkNamespace> CreateAsync()
    {
        // A namespace left behind by a run that was killed.
        await RunAsync(["ip", "netns", "del", Name], mayFail: true);
        await RemoveHostChainAsync();
        var network = new NetworkNamespace();
        try
        {
            await RunAsync(["ip", "netns", "add", Name]);
            await RunAsync(["ip", "link", "add", HostSide, "type", "veth", "peer", "name", InsideSide]);
            await RunAsync(["ip", "link", "set", InsideSide, "netns", Name]);
            await RunAsync(["ip", "addr", "add", $"{HostIp}/24", "dev", HostSide]);
            await RunAsync(["ip", "link", "set", HostSide, "up"]);
            await RunAsync(["ip", "netns", "exec", Name, "ip", "addr", "add", $"{InsideIp}/24", "dev", InsideSide]);
            await RunAsync(["ip", "netns", "exec", Name, "ip", "link", "set", InsideSide, "up"]);
            await RunAsync(["ip", "netns", "exec", Name, "ip", "link", "set", "lo", "up"]);
            return network;
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
    }

    /// <summary>Whether the kernel has the <c>netem</c> and <c>prio</c> queueing disciplines (tried on the namespace's loopback).</summary>
    public async Task<bool> KernelHasNetemAsync()
    {
        try
        {
            foreach (var qdisc in new[] { new[] { "prio" }, ["netem", "delay", "1ms"] })
            {
                await RunAsync(["ip", "netns", "exec", Name, "tc", "qdisc", "add", "dev", "lo", "root", .. qdisc]);
                await RunAsync(["ip", "netns", "exec", Name, "tc", "qdisc", "del", "dev", "lo", "root"]);
            }
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// Applies <paramref name="netem"/> (e.g. <c>delay 300ms 100ms loss 10%</c>) to the traffic between the
    /// namespace and <paramref name="ports"/> on the host, both ways; everything else on the pair is left alone.
    /// </summary>
    public async Task ImpairAsync(IReadOnlyList<int> ports, string netem)
    {
        _impaired = true;
        foreach (var (prefix, device, direction) in new[] { (new[] { "ip", "netns", "exec", Name }, InsideSide, "dport"), (Array.Empty<string>(), HostSide, "sport") })
        {
            await RunAsync([.. prefix, "tc", "qdisc", "add", "dev", device, "root", "handle", "1:", "prio"]);
            await RunAsync([.. prefix, "tc", "qdisc", "add", "dev", device, "parent", "1:3", "handle", "30:", "netem", .. netem.Split(' ')]);
            foreach (var port in ports)
                await RunAsync([.. prefix, "tc", "filter", "add", "dev", device, "protocol", "ip", "parent", "1:0", "prio", "1", "u32",
                    "match", "ip", direction, port.ToString(CultureInfo.InvariantCulture), "0xffff", "flowid", "1:3"]);
        }
    }

    /// <summary>Whether iptables runs here and the kernel has its <c>statistic</c> match (tried on the namespace's loopback).</summary>
    public async Task<bool> CanDropAsync()
    {
        string[] rule = ["INPUT", "-i", "lo", "-m", "statistic", "--mode", "random", "--probability", "0.5", "-j", "ACCEPT"];
        try
        {
            await RunAsync(["ip", "netns", "exec", Name, "iptables", "-A", .. rule]);
            await RunAsync(["ip", "netns", "exec", Name, "iptables", "-D", .. rule]);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// Drops each packet between the namespace and <paramref name="ports"/> on the host with <paramref name="probability"/>,
    /// both ways, in the kernel (iptables' <c>statistic</c> match), for kernels without <c>netem</c>. Each packet is
    /// dropped where it arrives (the namespace's INPUT for the host's packets, the host's INPUT, in a chain of its own,
    /// for the namespace's), so it is lost on the wire as far as the sender's TCP can tell: dropped in the sender's
    /// OUTPUT, the sender would be told at once and send it again without treating it as a loss.
    /// </summary>
    public async Task DropAsync(IReadOnlyList<int> ports, double probability)
    {
        _dropping = true;
        var chance = probability.ToString("0.###", CultureInfo.InvariantCulture);
        string[] drop = ["-m", "statistic", "--mode", "random", "--probability", chance, "-j", "DROP"];
        await RunAsync(["iptables", "-N", HostChain]);
        await RunAsync(["iptables", "-I", "INPUT", "-i", HostSide, "-j", HostChain]);
        foreach (var port in ports.Select(p => p.ToString(CultureInfo.InvariantCulture)))
        {
            // A drop rule, then a rule with the same match that counts what got through.
            foreach (var (inside, host) in new (string[], string[])[] { (drop, drop), (["-j", "ACCEPT"], ["-j", "RETURN"]) })
            {
                await RunAsync(["ip", "netns", "exec", Name, "iptables", "-A", "INPUT", "-i", InsideSide, "-p", "tcp", "-s", HostIp, "--sport", port, .. inside]);
                await RunAsync(["iptables", "-A", HostChain, "-p", "tcp", "-s", InsideIp, "-d", HostIp, "--dport", port, .. host]);
            }
        }
    }

    /// <summary>The packets to and from the ports <see cref="DropAsync"/> was given that got through and that were dropped, as the kernel counted them.</summary>
    public async Task<(long Passed, long Dropped)> DropCountsAsync()
    {
        long passed = 0, dropped = 0;
        foreach (var listing in new[]
                 {
                     await RunAsync(["ip", "netns", "exec", Name, "iptables", "-L", "INPUT", "-v", "-n", "-x"]),
                     await RunAsync(["iptables", "-L", HostChain, "-v", "-n", "-x"]),
                 })
        {
            foreach (var line in listing.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields is [var packets, _, var target, ..] && long.TryParse(packets, CultureInfo.InvariantCulture, out var count))
                {
                    if (target == "DROP")
                        dropped += count;
                    else if (target is "ACCEPT" or "RETURN")
                        passed += count;
                }
            }
        }
        return (passed, dropped);
    }

    /// <summary>Removes the impairment.</summary>
    public async Task RepairAsync()
    {
        if (_dropping)
        {
            await RunAsync(["ip", "netns", "exec", Name, "iptables", "-F", "INPUT"], mayFail: true);
            await RemoveHostChainAsync();
            _dropping = false;
        }
        if (!_impaired)
            return;
        await RunAsync(["ip", "netns", "exec", Name, "tc", "qdisc", "del", "dev", InsideSide, "root"], mayFail: true);
        await RunAsync(["tc", "qdisc", "del", "dev", HostSide, "root"], mayFail: true);
        _impaired = false;
    }

    /// <summary>The host's chain of drop rules and the jump to it (also what a run that was killed left behind).</summary>
    private static async Task RemoveHostChainAsync()
    {
        await RunAsync(["iptables", "-D", "INPUT", "-i", HostSide, "-j", HostChain], mayFail: true);
        await RunAsync(["iptables", "-F", HostChain], mayFail: true);
        await RunAsync(["iptables", "-X", HostChain], mayFail: true);
    }

    public async ValueTask DisposeAsync()
    {
        await RepairAsync();
        await RunAsync(["ip", "netns", "del", Name], mayFail: true);
        await RunAsync(["ip", "link", "del", HostSide], mayFail: true);
    }

    private static async Task<string> RunAsync(string[] command, bool mayFail = false)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in command.Skip(1))
            info.ArgumentList.Add(arg);
        Process? started;
        try
        {
            started = Process.Start(info);
        }
        catch (Win32Exception e)
        {
            // Not installed (iptables, on a machine that has never needed it).
            if (mayFail)
                return "";
            throw new InvalidOperationException($"Could not run {command[0]}: {e.Message}", e);
        }
        using var process = started ?? throw new InvalidOperationException($"Could not run {command[0]}.");
        var error = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0 && !mayFail)
            throw new InvalidOperationException($"{string.Join(' ', command)} exited with {process.ExitCode}: {await error}");
        return output;
    }
}
