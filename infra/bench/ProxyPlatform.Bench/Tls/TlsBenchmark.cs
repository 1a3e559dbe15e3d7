using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using ProxyPlatform.Bench.Throughput;
using ProxyPlatform.Testing;
using static ProxyPlatform.Bench.Results;

namespace ProxyPlatform.Bench.Tls;

/// <summary>What to run; the defaults are the published run.</summary>
/// <param name="Handshakes">Full handshakes per round of the handshake figure (one h2load run, each client one connection and one request).</param>
/// <param name="Certificates">Tenant certificates loaded for the memory figure: <c>Certificates / 10</c> tenants with 10 each.</param>
public sealed record TlsOptions(int Runs = 3, int Seconds = 10, int Handshakes = 100, int Certificates = 1000);

/// <summary>
/// TLS at the edge against nginx: both terminate TLS with the same certificate and key (made here) in
/// front of the same backend; full handshakes/s, HTTPS requests/s on kept-alive connections over
/// HTTP/1.1 (wrk) and h2 (h2load), and the worker's resident memory with many tenant certificates.
/// </summary>
public static partial class TlsBenchmark
{
    /// <summary>The name both serve: it resolves to loopback everywhere, so the tools send it as SNI without a hosts file.</summary>
    private const string Host = "localhost";
    private const int Threads = 2;
    private const int Connections = 64;
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(2);

    /// <param name="Negotiated">What h2load's handshakes agreed on (protocol, cipher, key exchange), so both sides are seen to do the same work.</param>
    private sealed record Figures(double Handshakes, double Http11, double H2, long Errors, string Negotiated);

    public static async Task RunAsync(TlsOptions options, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("The TLS benchmark runs on Linux (it reads /proc and starts nginx).");
        var load = LoadAverage();
        var dir = Directory.CreateTempSubdirectory("proxyplatform-tls-").FullName;
        // nginx's workers run as nobody when started by root; they need to read the certificate and reach their temp folders.
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        var peers = new List<PeerProcess>();
        try
        {
            await using var platform = await Platform.StartAsync("tls");
            var worker = platform.Workers[0];
            if (worker.HttpsUrl is null)
                throw new InvalidOperationException("The worker started without its TLS listener.");

            // Memory first, on the idle worker: with no certificate, then with options.Certificates of them.
            var rssNone = await SettledResidentBytesAsync(worker, cancellationToken);
            Console.WriteLine($"worker RSS with no certificate: {rssNone / 1048576.0:0.0} MB");
            var revision = await LoadCertificatesAsync(platform, options.Certificates);
            await worker.WaitForRevisionAsync(revision, TimeSpan.FromMinutes(5));
            var rssLoaded = await SettledResidentBytesAsync(worker, cancellationToken);
            Console.WriteLine($"worker RSS with {options.Certificates:N0} certificates: {rssLoaded / 1048576.0:0.0} MB");

            // One backend, and one certificate both proxies serve.
            var backendPorts = new[] { ReservedPorts.Take(), ReservedPorts.Take(), ReservedPorts.Take() };
            var fill = new Dictionary<string, string> { ["DIR"] = dir };
            for (var i = 0; i < 3; i++)
                fill[$"BACKEND_{i + 1}"] = backendPorts[i].ToString(CultureInfo.InvariantCulture);
            var backendUrl = new Uri($"http://127.0.0.1:{backendPorts[0]}/");
            var backends = StartNginx(peers, dir, "backends", Path.Combine("Throughput", "backends.nginx.conf"), fill);
            await backends.WaitUntilServingAsync(backendUrl, cancellationToken);

            var certificate = TestCertificates.Issue([Host]);
            File.WriteAllText(Path.Combine(dir, "tls.chain.pem"), certificate.ChainPem);
            File.WriteAllText(Path.Combine(dir, "tls.key.pem"), certificate.KeyPem);
            File.SetUnixFileMode(Path.Combine(dir, "tls.key.pem"), (UnixFileMode)0b110_100_100);

            await platform.PutOkAsync("/v1/tenants/bench", new { hostnames = new[] { Host } });
            await platform.PutOkAsync("/v1/tenants/bench/clusters/web", new { });
            await platform.PutOkAsync("/v1/tenants/bench/clusters/web/backends/backend-1", new { address = backendUrl.GetLeftPart(UriPartial.Authority) });
            await platform.PutOkAsync("/v1/tenants/bench/certificates/site", new { certificate = certificate.ChainPem, privateKey = certificate.KeyPem });
            revision = await platform.PutOkAsync("/v1/tenants/bench/routes/all", new { match = new { pathPrefix = "/" }, cluster = "web" });
            await worker.WaitForRevisionAsync(revision);
            var workerUrl = new Uri($"https://{Host}:{new Uri(worker.HttpsUrl).Port}/");

            var nginxUrl = new Uri($"https://{Host}:{ReservedPorts.Take()}/");
            var nginx = StartNginx(peers, dir, "tls", Path.Combine("Tls", "tls.nginx.conf"),
                new(fill) { ["BACKEND"] = fill["BACKEND_1"], ["PORT"] = nginxUrl.Port.ToString(CultureInfo.InvariantCulture) });
            var nginxVersion = PeerProcess.Version("nginx", "-v").Replace("nginx version: nginx/", "nginx ", StringComparison.Ordinal);

            (string Key, string Name, Uri Url)[] targets = [("worker", "ProxyPlatform worker", workerUrl), ("nginx", nginxVersion, nginxUrl)];
            foreach (var (_, name, url) in targets)
                await WaitForTlsAsync(name, url, certificate, cancellationToken);

            // Warm-up (JIT and tiered compilation of the worker's TLS paths), then runs interleaved.
            foreach (var (_, _, url) in targets)
                await MeasureAsync(url, options with { Seconds = (int)Warmup.TotalSeconds }, cancellationToken);
            var figures = targets.ToDictionary(t => t.Key, _ => new List<Figures>());
            for (var run = 1; run <= options.Runs; run++)
            {
                foreach (var (key, _, url) in targets)
                {
                    var f = await MeasureAsync(url, options, cancellationToken);
                    figures[key].Add(f);
                    Console.WriteLine($"run {run}: {key,-6} handshakes {f.Handshakes,8:N0}/s  HTTP/1.1 {f.Http11,8:N0} req/s  h2 {f.H2,8:N0} req/s  errors {f.Errors}");
                }
            }

            var markdown = Report(options, targets.Select(t => (t.Key, t.Name)).ToArray(), figures, rssNone, rssLoaded, load);
            Console.WriteLine();
            Console.WriteLine(markdown);
            WriteSection("tls", markdown);
        }
        finally
        {
            foreach (var peer in peers)
                await peer.DisposeAsync();
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>
    /// <paramref name="count"/> certificates through the admin API, 10 per tenant, each with its own key
    /// (and its own root and intermediate), for names within the tenant's claim; returns the last revision.
    /// </summary>
    private static async Task<long> LoadCertificatesAsync(Platform platform, int count)
    {
        var revision = 0L;
        for (var i = 0; i < count; i++)
        {
            var tenant = $"t{i / 10:D4}";
            if (i % 10 == 0)
                await platform.PutOkAsync($"/v1/tenants/{tenant}", new { hostnames = new[] { $"*.{tenant}.bench" } });
            var certificate = TestCertificates.Issue([$"c{i % 10}.{tenant}.bench"]);
            revision = await platform.PutOkAsync($"/v1/tenants/{tenant}/certificates/c{i % 10}", new { certificate = certificate.ChainPem, privateKey = certificate.KeyPem });
        }
        return revision;
    }

    /// <summary>
    /// The worker's RSS once it stops moving: sampled every second until three samples in a row lie
    /// within 1% of each other (or, on a machine too busy to settle, the last sample after two minutes).
    /// </summary>
    private static async Task<long> SettledResidentBytesAsync(Worker worker, CancellationToken cancellationToken)
    {
        var samples = new List<long>();
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (DateTime.UtcNow < deadline)
        {
            samples.Add(worker.Process.ResidentBytes);
            if (samples.Count >= 3 && samples[^3..].Max() - samples[^3..].Min() <= samples[^1] / 100)
                return samples[^1];
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }
        Console.WriteLine("The worker's RSS did not settle in two minutes; taking the last sample.");
        return samples[^1];
    }

    private static async Task<Figures> MeasureAsync(Uri url, TlsOptions options, CancellationToken cancellationToken)
    {
        var duration = TimeSpan.FromSeconds(options.Seconds);
        // Full handshakes: rounds of h2load with one request per client, each client a new connection
        // (h2load never resumes a session), until the duration is spent; handshakes/s over h2load's own time.
        long done = 0, failed = 0;
        var seconds = 0.0;
        var negotiated = "?";
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < duration)
        {
            var n = options.Handshakes.ToString(CultureInfo.InvariantCulture);
            var output = await RunToolAsync("h2load", ["--h1", $"-t{Threads}", "-n", n, "-c", n, url.ToString()], cancellationToken);
            var round = ParseH2load(output);
            negotiated = string.Join(", ", H2loadTls().Matches(output).Select(m => m.Groups[1].Value.Trim()));
            done += round.Succeeded;
            failed += round.Failed;
            seconds += round.Seconds;
        }
        var wrk = await RunToolAsync("wrk", [$"-t{Threads}", $"-c{Connections}", $"-d{options.Seconds}s", "--timeout", "5s", url.ToString()], cancellationToken);
        var http11 = WrkRate().Match(wrk) is { Success: true } m ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"wrk printed no rate:\n{wrk}");
        var wrkErrors = (WrkNon2xx().Match(wrk) is { Success: true } non2xx ? long.Parse(non2xx.Groups[1].Value, CultureInfo.InvariantCulture) : 0)
            + (WrkSocketErrors().Match(wrk) is { Success: true } socket ? Enumerable.Range(1, 4).Sum(g => long.Parse(socket.Groups[g].Value, CultureInfo.InvariantCulture)) : 0);
        var h2 = ParseH2load(await RunToolAsync("h2load", [$"-t{Threads}", $"-c{Connections}", "-m1", "-D", options.Seconds.ToString(CultureInfo.InvariantCulture), url.ToString()], cancellationToken));
        return new Figures(done / seconds, http11, h2.Succeeded / h2.Seconds, failed + wrkErrors + h2.Failed, negotiated);
    }

    private sealed record H2loadRun(long Succeeded, long Failed, double Seconds);

    private static H2loadRun ParseH2load(string output)
    {
        var finished = H2loadFinished().Match(output);
        var requests = H2loadRequests().Match(output);
        if (!finished.Success || !requests.Success)
            throw new InvalidOperationException($"h2load printed no summary:\n{output}");
        var unit = finished.Groups[2].Value;
        var time = double.Parse(finished.Groups[1].Value, CultureInfo.InvariantCulture) * (unit == "ms" ? 1e-3 : unit == "us" ? 1e-6 : 1);
        return new H2loadRun(long.Parse(requests.Groups[1].Value, CultureInfo.InvariantCulture),
            long.Parse(requests.Groups[2].Value, CultureInfo.InvariantCulture) + long.Parse(requests.Groups[3].Value, CultureInfo.InvariantCulture), time);
    }

    /// <summary>Fails unless a GET over TLS answers 200 with the certificate made here (the same leaf on both).</summary>
    private static async Task WaitForTlsAsync(string name, Uri url, TestCertificate certificate, CancellationToken cancellationToken)
    {
        var leaf = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(certificate.LeafPem);
        string? seen = null;
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) =>
        {
            seen = presented?.GetCertHashString();
            return seen == leaf.GetCertHashString();
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
        await Eventually.Async(async () =>
        {
            try
            {
                using var response = await http.GetAsync(url, cancellationToken);
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), () => $"{name} to answer 200 over TLS at {url} with the benchmark's certificate (last seen: {seen ?? "none"})");
    }

    private static async Task<string> RunToolAsync(string tool, string[] args, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            return await stdout + await stderr;
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
        }
    }

    private static PeerProcess StartNginx(List<PeerProcess> peers, string dir, string name, string template, Dictionary<string, string> fill)
    {
        // nginx creates its temp folders (body, proxy, …) but not their parent.
        Directory.CreateDirectory(Path.Combine(dir, $"{name}-tmp"));
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, template));
        foreach (var (key, value) in fill)
            text = text.Replace("{{" + key + "}}", value, StringComparison.Ordinal);
        var config = Path.Combine(dir, Path.GetFileName(template));
        File.WriteAllText(config, text);
        var peer = PeerProcess.Start($"nginx ({name})", "nginx", "-p", dir, "-c", config, "-e", "stderr");
        peers.Add(peer);
        return peer;
    }

    private static string Report(TlsOptions options, (string Key, string Name)[] targets, Dictionary<string, List<Figures>> figures, long rssNone, long rssLoaded, double load)
    {
        double Median(string key, Func<Figures, double> figure) => Percentile(figures[key].Select(figure).ToList(), 50);
        string Ratio(Func<Figures, double> figure) => F(Median("worker", figure) / Median("nginx", figure), "0.00") + "x";
        var md = new System.Text.StringBuilder();
        md.AppendLine("## TLS at the edge");
        md.AppendLine();
        md.AppendLine($"`infra/bench/run.sh tls` — {Machine()}. The load tools, the proxy under test, the backend, the (idle) control plane");
        md.AppendLine("and PostgreSQL share these cores: the ratios between the worker and nginx, measured in the same run, are what carry over.");
        if (load > 1.5)
            md.AppendLine($"**The 1-minute load average was {F(load, "0.00")} when the run started: other work was running, and these figures are not representative.**");
        md.AppendLine();
        md.AppendLine($"The ProxyPlatform worker's TLS listener (`Proxy:HttpsUrl`; {options.Certificates:N0} other tenants' certificates loaded, see below) and nginx");
        md.AppendLine("(1 worker process, `listen ... ssl http2`, TLS 1.2–1.3) serve the same certificate and key (ECDSA P-256 leaf and intermediate,");
        md.AppendLine("made by the benchmark; uploaded through the admin API for the worker, PEM files for nginx) for `localhost`, and forward to the");
        md.AppendLine("same nginx backend (a 10-byte body) with keep-alive upstream connections.");
        md.AppendLine($"Each run measures, per target, interleaved: **full handshakes/s**: rounds of `h2load --h1 -t{Threads} -n {options.Handshakes} -c {options.Handshakes}`");
        md.AppendLine($"(each client opens one connection and sends one request; h2load never resumes a session) for {options.Seconds} s, the handshakes");
        md.AppendLine($"succeeded divided by h2load's own time; **HTTP/1.1 keep-alive**: `wrk -t{Threads} -c{Connections} -d{options.Seconds}s` over https; **h2 keep-alive**:");
        md.AppendLine($"`h2load -t{Threads} -c{Connections} -m1 -D {options.Seconds}` (ALPN h2, one stream at a time per connection, as wrk). A {Warmup.TotalSeconds:0} s warm-up of each first;");
        md.AppendLine($"{options.Runs} runs; each figure is the median of the runs.");
        md.AppendLine();
        md.AppendLine(Table(["target", "full handshakes/s", "HTTP/1.1 requests/s", "h2 requests/s", "runs (handshakes/s; HTTP/1.1; h2)", "errors", "handshake negotiated"],
            targets.Select(t => new[]
            {
                t.Name, F(Median(t.Key, f => f.Handshakes), "N0"), F(Median(t.Key, f => f.Http11), "N0"), F(Median(t.Key, f => f.H2), "N0"),
                string.Join(" / ", figures[t.Key].Select(f => $"{F(f.Handshakes, "N0")}; {F(f.Http11, "N0")}; {F(f.H2, "N0")}")),
                figures[t.Key].Sum(f => f.Errors).ToString(CultureInfo.InvariantCulture),
                string.Join("; ", figures[t.Key].Select(f => f.Negotiated).Distinct()),
            })));
        md.AppendLine($"The worker against nginx: **{Ratio(f => f.Handshakes)}** the full handshakes/s, **{Ratio(f => f.Http11)}** the HTTP/1.1 requests/s and");
        md.AppendLine($"**{Ratio(f => f.H2)}** the h2 requests/s on kept-alive connections.");
        md.AppendLine();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Worker memory: **{F(rssLoaded / 1048576.0, "0")} MB** RSS with {options.Certificates:N0} tenant certificates loaded through the admin API ({options.Certificates / 10:N0} tenants × 10,"));
        md.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"each certificate with its own key and chain) against **{F(rssNone / 1048576.0, "0")} MB** with none ({F((double)rssLoaded / rssNone, "0.00")}x, +{F((rssLoaded - rssNone) / 1024.0 / options.Certificates, "0.0")} KB per certificate):"));
        md.AppendLine("the same idle worker before and after, each read from /proc/<pid>/status (VmRSS) once three samples a second apart agree within 1%.");
        return md.ToString();
    }

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex WrkRate();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex WrkNon2xx();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex WrkSocketErrors();

    [GeneratedRegex(@"^(?:TLS Protocol|Cipher|Server Temp Key): (.+)$", RegexOptions.Multiline)]
    private static partial Regex H2loadTls();

    [GeneratedRegex(@"finished in ([0-9.]+)(s|ms|us),")]
    private static partial Regex H2loadFinished();

    [GeneratedRegex(@"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored")]
    private static partial Regex H2loadRequests();
}
