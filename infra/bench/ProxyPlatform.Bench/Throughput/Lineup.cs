using System.Globalization;
using System.Reflection;
using ProxyPlatform.Testing;

namespace ProxyPlatform.Bench.Throughput;

/// <summary>One thing the load is sent to: a backend directly, or a proxy in front of the three backends.</summary>
/// <param name="Key">Short name used on the command line (<c>--targets worker,yarp</c>).</param>
/// <param name="Pid">The process whose CPU time is charged to this target (the backends' nginx for "direct").</param>
public sealed record Target(string Key, string Name, Uri Url, int Pid);

/// <summary>
/// Everything the throughput benchmark measures, running at once on loopback: three backends (one
/// nginx worker on three ports), the ProxyPlatform worker configured through the control plane's
/// admin API, a bare YARP app, nginx and HAProxy, each proxy round robin over the same three backends.
/// </summary>
public sealed class Lineup : IAsyncDisposable
{
    private readonly string _dir;
    private readonly List<PeerProcess> _peers = [];
    private Platform? _platform;
    private Platform? _openPlatform;

    private Lineup(string dir) => _dir = dir;

    public List<Target> Targets { get; } = [];

    public static async Task<Lineup> StartAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("The throughput benchmark runs on Linux (it reads /proc and starts nginx and HAProxy).");
        var dir = Directory.CreateTempSubdirectory("proxyplatform-throughput-").FullName;
        // nginx's workers run as nobody when started by root; they need to reach their temp folders.
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        var lineup = new Lineup(dir);
        try
        {
            await lineup.StartAllAsync(cancellationToken);
            return lineup;
        }
        catch
        {
            await lineup.DisposeAsync();
            throw;
        }
    }

    private async Task StartAllAsync(CancellationToken cancellationToken)
    {
        // nginx and HAProxy cannot be asked for port 0 and say which they got: reserved ports, as the tests use.
        int[] backendPorts = [ReservedPorts.Take(), ReservedPorts.Take(), ReservedPorts.Take()];
        var backendUrls = backendPorts.Select(p => new Uri($"http://127.0.0.1:{p}/")).ToArray();
        var fill = new Dictionary<string, string> { ["DIR"] = _dir };
        for (var i = 0; i < 3; i++)
            fill[$"BACKEND_{i + 1}"] = backendPorts[i].ToString(CultureInfo.InvariantCulture);

        var backends = StartNginx("backends", fill);
        foreach (var url in backendUrls)
            await backends.WaitUntilServingAsync(url, cancellationToken);
        Targets.Add(new Target("direct", "direct to one backend", backendUrls[0], backends.Id));

        _platform = await Platform.StartAsync("throughput");
        var worker = _platform.Workers[0];
        await ConfigureWorkerAsync(_platform, backendUrls);
        await worker.WaitForStatusAsync(ThroughputBenchmark.Host, "/", 200);
        Targets.Add(new Target("worker", "ProxyPlatform worker", new Uri(worker.ProxyUrl + "/"), worker.Process.Id));

        // The same worker under a control plane without credentials: what access control costs the proxy.
        _openPlatform = await Platform.StartAsync("throughputopen", 1, 1, connection: null, "--Auth:Disabled=true");
        var openWorker = _openPlatform.Workers[0];
        await ConfigureWorkerAsync(_openPlatform, backendUrls);
        await openWorker.WaitForStatusAsync(ThroughputBenchmark.Host, "/", 200);
        Targets.Add(new Target("worker-open", "ProxyPlatform worker, control plane without credentials", new Uri(openWorker.ProxyUrl + "/"), openWorker.Process.Id));

        var yarpUrl = new Uri($"http://127.0.0.1:{ReservedPorts.Take()}/");
        var yarp = Start(PeerProcess.Start("bare YARP", "dotnet", BareYarpDll(), $"--urls={yarpUrl.GetLeftPart(UriPartial.Authority)}",
            $"--Destinations={string.Join(',', backendUrls.Select(u => u.GetLeftPart(UriPartial.Authority)))}"));
        await yarp.WaitUntilServingAsync(yarpUrl, cancellationToken);
        Targets.Add(new Target("yarp", "bare YARP 2.3.0 (static config)", yarpUrl, yarp.Id));

        var nginxUrl = new Uri($"http://127.0.0.1:{ReservedPorts.Take()}/");
        var nginx = StartNginx("proxy", new(fill) { ["PORT"] = nginxUrl.Port.ToString(CultureInfo.InvariantCulture) });
        await nginx.WaitUntilServingAsync(nginxUrl, cancellationToken);
        Targets.Add(new Target("nginx", PeerProcess.Version("nginx", "-v").Replace("nginx version: nginx/", "nginx ", StringComparison.Ordinal), nginxUrl, nginx.Id));

        var haproxyUrl = new Uri($"http://127.0.0.1:{ReservedPorts.Take()}/");
        var haproxyConfig = Fill("proxy.haproxy.cfg", new(fill) { ["PORT"] = haproxyUrl.Port.ToString(CultureInfo.InvariantCulture) });
        var haproxy = Start(PeerProcess.Start("HAProxy", "haproxy", "-db", "-f", haproxyConfig));
        await haproxy.WaitUntilServingAsync(haproxyUrl, cancellationToken);
        // "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/": keep the upstream version.
        var haproxyVersion = PeerProcess.Version("haproxy", "-v").Split(' ').ElementAtOrDefault(2)?.Split('-')[0] ?? "?";
        Targets.Add(new Target("haproxy", $"HAProxy {haproxyVersion}", haproxyUrl, haproxy.Id));

        foreach (var target in Targets.Skip(1))
            await CheckRoundRobinAsync(target, cancellationToken);
    }

    /// <summary>As production does it: a tenant, a round-robin cluster of the three backends, and a route, through the REST admin API.</summary>
    private static async Task ConfigureWorkerAsync(Platform platform, Uri[] backends)
    {
        await platform.PutOkAsync("/v1/tenants/bench", new { displayName = "bench", hostnames = new[] { ThroughputBenchmark.Host } });
        await platform.PutOkAsync("/v1/tenants/bench/clusters/web", new { loadBalancing = "RoundRobin" });
        for (var i = 0; i < backends.Length; i++)
            await platform.PutOkAsync($"/v1/tenants/bench/clusters/web/backends/backend-{i + 1}", new { address = backends[i].GetLeftPart(UriPartial.Authority) });
        var revision = await platform.PutOkAsync("/v1/tenants/bench/routes/all", new { match = new { pathPrefix = "/" }, cluster = "web" });
        await platform.Workers[0].WaitForRevisionAsync(revision);
    }

    /// <summary>Fails unless six requests through a proxy reach all three backends (each answers its own name).</summary>
    private static async Task CheckRoundRobinAsync(Target target, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var seen = new HashSet<string>();
        for (var i = 0; i < 6; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, target.Url);
            request.Headers.Host = ThroughputBenchmark.Host;
            using var response = await http.SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"{target.Name} answered {(int)response.StatusCode}: {body}");
            seen.Add(body.Trim());
        }
        if (seen.Count != 3)
            throw new InvalidOperationException($"{target.Name} reached only {string.Join(", ", seen)} in six requests; expected round robin over three backends.");
    }

    private PeerProcess StartNginx(string name, Dictionary<string, string> fill)
    {
        // nginx creates its temp folders (body, proxy, …) but not their parent.
        Directory.CreateDirectory(Path.Combine(_dir, $"{name}-tmp"));
        var config = Fill($"{name}.nginx.conf", fill);
        return Start(PeerProcess.Start($"nginx ({name})", "nginx", "-p", _dir, "-c", config, "-e", "stderr"));
    }

    private PeerProcess Start(PeerProcess peer)
    {
        _peers.Add(peer);
        return peer;
    }

    /// <summary>Writes a copy of a configuration template (Throughput/*.conf, *.cfg) with its {{KEY}}s filled in.</summary>
    private string Fill(string template, Dictionary<string, string> fill)
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Throughput", template));
        foreach (var (key, value) in fill)
            text = text.Replace("{{" + key + "}}", value, StringComparison.Ordinal);
        if (text.Contains("{{", StringComparison.Ordinal))
            throw new InvalidOperationException($"{template} has a placeholder nobody filled in.");
        var path = Path.Combine(_dir, template);
        File.WriteAllText(path, text);
        return path;
    }

    private static string BareYarpDll()
    {
        var path = Path.GetFullPath(typeof(Lineup).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BareYarpDll").Value!);
        return File.Exists(path) ? path : throw new FileNotFoundException($"Build infra/bench/ProxyPlatform.Bench.BareYarp first (infra/bench/run.sh does): {path} is missing.", path);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var peer in _peers)
            await peer.DisposeAsync();
        if (_platform is not null)
            await _platform.DisposeAsync();
        if (_openPlatform is not null)
            await _openPlatform.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
