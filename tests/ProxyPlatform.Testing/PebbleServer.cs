using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace ProxyPlatform.Testing;

/// <summary>
/// Debian's <c>pebble</c>, a real ACME server, on loopback for one test: its own TLS certificate from a CA
/// the test makes (<see cref="CaFile"/>, for <c>Acme:TrustedCaFile</c>), names resolved to 127.0.0.1 by
/// <c>pebble-challtestsrv</c>'s DNS, and HTTP-01 validation sent to <c>httpPort</c>: a worker's proxy port.
/// Validation is real: <c>PEBBLE_VA_ALWAYS_VALID</c> is removed from its environment.
/// </summary>
public sealed class PebbleServer : IAsyncDisposable
{
    public const string Binary = "/usr/bin/pebble";
    public const string DnsBinary = "/usr/bin/pebble-challtestsrv";

    private readonly string _dir = Directory.CreateTempSubdirectory("proxyplatform-pebble-").FullName;
    private readonly List<Process> _processes = [];
    private readonly StringBuilder _output = new();

    private PebbleServer()
    {
        Port = ReservedPorts.Take();
        DirectoryUrl = $"https://127.0.0.1:{Port}/dir";
        CaFile = Path.Combine(_dir, "ca.pem");
    }

    public static bool IsInstalled => File.Exists(Binary) && File.Exists(DnsBinary);

    public int Port { get; }
    public string DirectoryUrl { get; }
    /// <summary>The CA of pebble's own TLS certificate, PEM.</summary>
    public string CaFile { get; }

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>Reserves pebble's port (so the control plane can be told its directory) without starting it.</summary>
    public static PebbleServer Reserve() => new();

    /// <summary>Starts the DNS and pebble, validating HTTP-01 on <paramref name="httpPort"/>, issuing certificates valid for <paramref name="validity"/>.</summary>
    public async Task StartAsync(int httpPort, TimeSpan validity)
    {
        WriteTls();
        var dnsPort = ReservedPorts.Take();
        Start(DnsBinary, [], "-dns01", $"127.0.0.1:{dnsPort}", "-http01", "", "-https01", "", "-tlsalpn01", "",
            "-management", $"127.0.0.1:{ReservedPorts.Take()}", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "");
        var config = Path.Combine(_dir, "pebble-config.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
        {
            pebble = new
            {
                listenAddress = $"127.0.0.1:{Port}",
                managementListenAddress = $"127.0.0.1:{ReservedPorts.Take()}",
                certificate = Path.Combine(_dir, "cert.pem"),
                privateKey = Path.Combine(_dir, "key.pem"),
                httpPort,
                tlsPort = ReservedPorts.Take(),
                ocspResponderURL = "",
                externalAccountBindingRequired = false,
                certificateValidityPeriod = (ulong)validity.TotalSeconds,
            },
        }));
        Start(Binary, new() { ["PEBBLE_VA_NOSLEEP"] = "1" }, "-config", config, "-dnsserver", $"127.0.0.1:{dnsPort}");
        await Eventually.Async(async () =>
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), () => $"pebble does not listen on {Port}:\n{Output}");
    }

    private void WriteTls()
    {
        var from = DateTimeOffset.UtcNow.AddHours(-1);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = TestCertificates.Authority("CN=Pebble Test CA", caKey, null, null, from, from.AddDays(2));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), from, from.AddDays(1), RandomNumberGenerator.GetBytes(16));
        File.WriteAllText(CaFile, ca.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(_dir, "cert.pem"), leaf.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(_dir, "key.pem"), key.ExportPkcs8PrivateKeyPem() + "\n");
    }

    private void Start(string binary, Dictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        info.Environment.Remove("PEBBLE_VA_ALWAYS_VALID");
        foreach (var (name, value) in environment)
            info.Environment[name] = value;
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
            }
            catch (InvalidOperationException)
            {
            }
            process.Dispose();
        }
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
