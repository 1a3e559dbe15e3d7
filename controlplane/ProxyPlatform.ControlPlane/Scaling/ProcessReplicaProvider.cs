using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.ControlPlane.Hosting;

namespace ProxyPlatform.ControlPlane.Scaling;

/// <summary>
/// <c>Scaling:Provider=Process</c>: worker processes on this machine, one per slot of a pool (ID
/// <c>&lt;pool&gt;-&lt;slot&gt;</c>), each with its own ports, data directory and the pool's token.
/// </summary>
/// <remarks>
/// <para>Each slot's record (<c>&lt;DataDir&gt;/&lt;pool&gt;/&lt;pool&gt;-&lt;slot&gt;/worker.json</c>: ports, pid,
/// restarts) is its lease: written before the worker is started, removed once it has exited for good. A
/// worker is found by its command line, which names its own data directory, so a control plane that
/// starts again, or the pool's reconciler on another silo, adopts the workers it finds instead of starting
/// a second one for a slot. Every step over a pool holds an exclusive lock on the pool's directory, so two
/// processes on the machine never act on one pool at once.</para>
/// <para>Workers are started through <c>setsid -f</c>: in a session of their own, not children of the
/// control plane, they keep serving when it stops (DESIGN: Process provider).</para>
/// </remarks>
public sealed class ProcessReplicaProvider(
    ScalingOptions scaling, ControlPlaneListeners listeners, KeyOperations keys, IGrainFactory grains,
    TimeProvider time, ILogger<ProcessReplicaProvider> logger) : IReplicaProvider, IDisposable
{
    private const string RecordFile = "worker.json", TokenFile = "pool-token", LockFile = ".lock", NodesDirectory = ".control-planes";
    /// <summary>A record without a process for this long after its start is a start that never happened (the silo died first).</summary>
    private static readonly TimeSpan StartGrace = TimeSpan.FromSeconds(15);
    /// <summary>How often a drain is asked for again while the worker has not begun it (its stream may have been elsewhere).</summary>
    private static readonly TimeSpan DrainRetry = TimeSpan.FromSeconds(5);
    /// <summary>A worker that ran this long before it exited starts its backoff afresh.</summary>
    private static readonly TimeSpan StableRun = TimeSpan.FromSeconds(60);
    private static readonly Caller Provider = new("process-provider", "process provider", Roles.Operator, null, null);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private readonly ProcessScalingOptions _options = scaling.Process;
    private readonly HttpClient _probe = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) }) { Timeout = TimeSpan.FromSeconds(1) };

    public string Name => ScalingOptions.ProcessProvider;

    public int MaxReplicas => _options.MaxReplicas;

    public async Task<ReplicaObservation> EnsureAsync(string pool, int desired, CancellationToken cancellationToken)
    {
        using var held = TryLock(pool);
        if (held is null)
            return await ObserveAsync(pool, cancellationToken);
        var slots = Load(pool);
        foreach (var slot in slots)
            Locate(slot);
        var now = time.GetUtcNow();
        foreach (var slot in slots.Where(s => s.Record.Slot >= desired))
            await RetireAsync(pool, slot, desired, now);
        for (var index = 0; index < desired; index++)
        {
            var slot = slots.FirstOrDefault(s => s.Record.Slot == index);
            try
            {
                if (slot is null)
                    await StartAsync(pool, index, null, cancellationToken);
                else if (slot.Record.Retiring && slot.Pid is null && !slot.Starting)
                    await StartAsync(pool, index, slot, cancellationToken);
                else if (!slot.Record.Retiring && slot.Pid is null && !slot.Starting && now >= slot.Record.NextStartAt)
                    await StartAsync(pool, index, slot, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Pool {Pool}: starting worker {Worker} failed; the next pass tries again", pool, WorkerId(pool, index));
            }
        }
        return await ObserveAsync(pool, cancellationToken);
    }

    public async Task<ReplicaObservation> ObserveAsync(string pool, CancellationToken cancellationToken)
    {
        var instances = new List<ReplicaInstance>();
        foreach (var slot in Load(pool).OrderBy(s => s.Record.Slot))
        {
            Locate(slot);
            if (slot.Pid is null && !slot.Starting)
                continue;
            var state = slot.Record.Retiring ? ReplicaStates.Draining : await ProbeAsync(slot.Record, cancellationToken);
            instances.Add(new ReplicaInstance(slot.Record.Id, state, ProxyUrl(slot.Record), $"http://127.0.0.1:{slot.Record.OpsPort}"));
        }
        return new ReplicaObservation(instances.Count, instances.Count(i => i.State == ReplicaStates.Ready), instances);
    }

    public async Task<bool> DrainAsync(string pool, string worker, CancellationToken cancellationToken)
    {
        using var held = TryLock(pool);
        var slot = held is null ? null : Load(pool).FirstOrDefault(s => s.Record.Id == worker);
        if (slot is null)
            return false;
        Locate(slot);
        await RetireAsync(pool, slot, desired: null, time.GetUtcNow());
        return true;
    }

    public Task ReleaseAsync(string pool, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Takes a slot out of service: asks the worker to drain (again, until it says it does), escalates to
    /// SIGTERM and then SIGKILL past the stop time-out, and gives the slot up once its process has gone.
    /// </summary>
    private async Task RetireAsync(string pool, Slot slot, int? desired, DateTimeOffset now)
    {
        var record = slot.Record;
        if (slot.Pid is not { } pid)
        {
            if (slot.Starting)
                return;
            // Gone: the lease ends; the worker's data and log stay for whoever looks.
            File.Delete(Path.Combine(slot.Directory, RecordFile));
            logger.LogInformation("Pool {Pool}: worker {Worker} has left; slot {Slot} is free", pool, record.Id, record.Slot);
            return;
        }
        if (!record.Retiring)
        {
            record = slot.Record = record with { Retiring = true, RetiringSince = now, DrainAskedAt = null };
            logger.LogInformation("Pool {Pool}: draining worker {Worker} (pid {Pid}){Why}", pool, record.Id, pid, desired is { } d ? $": the pool wants {d}" : "");
        }
        var since = record.RetiringSince ?? now;
        if (now - since > _options.StopTimeout + TimeSpan.FromSeconds(10))
        {
            logger.LogWarning("Pool {Pool}: worker {Worker} (pid {Pid}) did not stop after SIGTERM; killing it", pool, record.Id, pid);
            Signal(pid, kill: true);
        }
        else if (now - since > _options.StopTimeout)
        {
            logger.LogWarning("Pool {Pool}: worker {Worker} (pid {Pid}) is still there {Seconds} s after it was asked to drain; sending SIGTERM", pool, record.Id, pid, _options.StopTimeout.TotalSeconds);
            Signal(pid, kill: false);
        }
        else if (record.DrainAskedAt is not { } asked || (now - asked > DrainRetry && !await DrainingAsync(record)))
        {
            record = slot.Record = record with { DrainAskedAt = now };
            var reason = desired is { } wanted ? $"pool {pool} scaled to {wanted}" : $"pool {pool}: an operator drains {record.Id}";
            await grains.GetGrain<IDistributionGrain>(pool).Drain(record.Id, reason);
        }
        Save(slot);
    }

    private async Task StartAsync(string pool, int index, Slot? slot, CancellationToken cancellationToken)
    {
        var directory = slot?.Directory ?? Path.Combine(PoolDirectory(pool), WorkerId(pool, index));
        var running = AllSlots().Count(s => s.Pid is not null || s.Starting);
        if (running >= _options.MaxReplicas)
        {
            logger.LogWarning("Pool {Pool}: not starting worker {Worker}: {Running} workers run on this machine, the most Scaling:Process:MaxReplicas allows", pool, WorkerId(pool, index), running);
            return;
        }
        Directory.CreateDirectory(directory);
        var now = time.GetUtcNow();
        var previous = slot?.Record;
        var restarts = previous is null || previous.Retiring || now - previous.StartedAt > StableRun ? 0 : previous.Restarts + 1;
        var used = AllSlots().Where(s => s.Directory != directory).SelectMany(s => new[] { s.Record.ProxyPort, s.Record.OpsPort, s.Record.HttpsPort ?? 0 }).ToHashSet();
        // A worker keeps its ports across restarts, so a load balancer in front finds it where it was.
        var proxyPort = previous is { Retiring: false } ? previous.ProxyPort : FreePort(_options.PortRange, used, "Scaling:Process:PortRange");
        used.Add(proxyPort);
        var opsPort = previous is { Retiring: false } ? previous.OpsPort : FreePort(_options.OpsPortRange, used, "Scaling:Process:OpsPortRange");
        used.Add(opsPort);
        int? httpsPort = _options.HttpsPortRange is { } https ? (previous is { Retiring: false, HttpsPort: { } kept } ? kept : FreePort(https, used, "Scaling:Process:HttpsPortRange")) : null;
        var record = new WorkerRecord
        {
            Id = WorkerId(pool, index),
            Pool = pool,
            Slot = index,
            ProxyPort = proxyPort,
            OpsPort = opsPort,
            HttpsPort = httpsPort,
            StartedAt = now,
            Restarts = restarts,
            // 1 s, 2 s, 4 s … up to the longest backoff, for a worker that keeps exiting.
            NextStartAt = now + TimeSpan.FromSeconds(Math.Min(_options.MaxBackoff.TotalSeconds, Math.Pow(2, restarts))),
        };
        var started = new Slot(directory, record);
        // The lease first: a reconciler that takes over from here finds the record and waits for the process.
        Save(started);
        var token = await PoolTokenAsync(pool, cancellationToken);
        var (file, arguments) = Command(started, token is null);
        var start = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            ArgumentList = { "-c", "exec setsid -f \"$0\" \"$@\" >>\"$PP_WORKER_LOG\" 2>&1 </dev/null", file },
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["PP_WORKER_LOG"] = Path.Combine(directory, "worker.log");
        // The token travels in the environment, not on the command line, which any local user can read.
        if (token is not null)
            start.Environment["DataPlane__Token"] = token;
        using (var launcher = Process.Start(start) ?? throw new InvalidOperationException("/bin/sh did not start."))
            await launcher.WaitForExitAsync(cancellationToken);
        logger.LogInformation("Pool {Pool}: started worker {Worker} (proxy port {Proxy}, ops port {Ops}{Restart})", pool, record.Id, proxyPort, opsPort,
            previous is null ? "" : $", restart {restarts} after it exited");
    }

    /// <summary>The worker's command line: the built worker (or <c>dotnet</c> and its .dll) and its settings. Its data directory marks it as this slot's.</summary>
    private (string File, List<string> Arguments) Command(Slot slot, bool noToken)
    {
        var path = WorkerPath();
        var arguments = new List<string>();
        var file = path;
        if (path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            file = Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
            arguments.Add(path);
        }
        var record = slot.Record;
        arguments.Add($"--DataPlane:DataDir={Marker(slot.Directory)}");
        arguments.Add($"--DataPlane:Id={record.Id}");
        arguments.Add($"--DataPlane:Pool={record.Pool}");
        arguments.Add($"--ControlPlane:Url={ControlPlaneUrl()}");
        arguments.Add($"--Proxy:Url=http://{Host(_options.ListenAddress)}:{record.ProxyPort}");
        arguments.Add($"--Ops:Url=http://127.0.0.1:{record.OpsPort}");
        arguments.Add(record.HttpsPort is { } https ? $"--Proxy:HttpsUrl=https://{Host(_options.ListenAddress)}:{https}" : "--Proxy:HttpsUrl=off");
        if (noToken)
            arguments.Add("--DataPlane:Token=");
        arguments.AddRange(_options.WorkerArgs);
        return (file, arguments);
    }

    private static string Host(string address) => IPAddress.Parse(address).AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address;

    private string ProxyUrl(WorkerRecord record)
    {
        var address = IPAddress.Parse(_options.ListenAddress);
        var host = address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : Host(_options.ListenAddress);
        return $"http://{host}:{record.ProxyPort}";
    }

    /// <summary>
    /// The gRPC URLs the workers are given: the configured ones, else this node's first and then those of
    /// the other control planes on this machine that answer, so that a worker moves to another node when
    /// the one that started it is lost.
    /// </summary>
    private string ControlPlaneUrl()
    {
        if (_options.ControlPlaneUrl is { } configured)
            return configured;
        var own = OwnUrl();
        var urls = new List<string> { own };
        var directory = Path.Combine(_options.DataDir, NodesDirectory);
        if (Directory.Exists(directory))
        {
            foreach (var file in Directory.EnumerateFiles(directory))
            {
                var url = File.ReadAllText(file).Trim();
                if (url != own && Uri.TryCreate(url, UriKind.Absolute, out var uri) && Answers(uri))
                    urls.Add(url);
                else if (url != own)
                    File.Delete(file);
            }
        }
        return string.Join(',', urls);
    }

    /// <summary>Records this node's gRPC URL under the data directory, for the workers the other nodes on this machine start.</summary>
    public void Announce()
    {
        var directory = Path.Combine(_options.DataDir, NodesDirectory);
        Directory.CreateDirectory(directory);
        var url = OwnUrl();
        var path = Path.Combine(directory, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(url)))[..16]);
        if (!File.Exists(path))
            File.WriteAllText(path, url);
    }

    private string OwnUrl()
    {
        var grpc = listeners.Grpc;
        var host = grpc.Configured.Host.Trim('[', ']');
        if (IPAddress.TryParse(host, out var address) && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)))
            return $"{grpc.Configured.Scheme}://127.0.0.1:{grpc.Port}";
        return grpc.Url;
    }

    private static bool Answers(Uri url)
    {
        try
        {
            using var client = new TcpClient();
            return client.ConnectAsync(url.Host, url.Port).Wait(TimeSpan.FromMilliseconds(500)) && client.Connected;
        }
        catch (Exception ex) when (ex is SocketException or AggregateException)
        {
            return false;
        }
    }

    private string WorkerPath()
    {
        if (_options.WorkerPath is { } configured)
            return File.Exists(configured) ? configured : throw new InvalidOperationException($"Scaling:Process:WorkerPath: {configured} does not exist.");
        // Beside the control plane (a published layout), else the worker's build output in this repository's layout.
        var here = AppContext.BaseDirectory;
        foreach (var candidate in new[]
        {
            Path.Combine(here, "ProxyPlatform.DataPlane"),
            Path.Combine(here, "ProxyPlatform.DataPlane.dll"),
            Path.GetFullPath(Path.Combine(here, "..", "..", "..", "..", "..", "dataplane", "ProxyPlatform.DataPlane", "bin",
                new DirectoryInfo(here.TrimEnd('/')).Parent!.Name, new DirectoryInfo(here.TrimEnd('/')).Name, "ProxyPlatform.DataPlane.dll")),
        })
        {
            if (File.Exists(candidate))
                return candidate;
        }
        throw new InvalidOperationException($"No worker beside the control plane ({here}); build the solution or set Scaling:Process:WorkerPath.");
    }

    /// <summary>The pool's token, issued once and kept (mode 0600) in the pool's directory; null when credentials are off.</summary>
    private async Task<string?> PoolTokenAsync(string pool, CancellationToken cancellationToken)
    {
        var path = Path.Combine(PoolDirectory(pool), TokenFile);
        if (File.Exists(path))
            return (await File.ReadAllTextAsync(path, cancellationToken)).Trim();
        IssuedCredential issued;
        try
        {
            issued = await keys.CreatePoolToken(Provider, pool, new PoolTokenRequest { Name = $"process provider ({pool})" });
        }
        catch (AdminException ex)
        {
            logger.LogWarning("Pool {Pool}: no pool token for its workers ({Reason}); they present none", pool, ex.Message);
            return null;
        }
        // Readable by this user alone from its first byte: created with mode 0600, then written.
        var secret = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            secret.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        await using (var file = new FileStream(path, secret))
        await using (var writer = new StreamWriter(file))
            await writer.WriteAsync(issued.Secret);
        return issued.Secret;
    }

    private async Task<string> ProbeAsync(WorkerRecord record, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _probe.GetAsync($"http://127.0.0.1:{record.OpsPort}/readyz", cancellationToken);
            if (response.IsSuccessStatusCode)
                return ReplicaStates.Ready;
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            return body.Contains("\"draining\"", StringComparison.Ordinal) ? ReplicaStates.Draining : ReplicaStates.Starting;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return ReplicaStates.Starting;
        }
    }

    private async Task<bool> DrainingAsync(WorkerRecord record) => await ProbeAsync(record, CancellationToken.None) == ReplicaStates.Draining;

    /// <summary>
    /// Finds the slot's process by its command line (its data directory is in it), which survives a
    /// restart of the control plane and tells a reused pid from the worker. A launcher still on its way
    /// (sh, setsid) counts as starting, and so does a fresh record whose process has not shown up yet.
    /// </summary>
    private void Locate(Slot slot)
    {
        slot.Pid = null;
        slot.Starting = false;
        var marker = $"--DataPlane:DataDir={Marker(slot.Directory)}";
        if (slot.Record.Pid is { } recorded && IsWorker(recorded, marker) == true)
        {
            slot.Pid = recorded;
            return;
        }
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid))
                continue;
            switch (IsWorker(pid, marker))
            {
                case true:
                    slot.Pid = pid;
                    slot.Record = slot.Record with { Pid = pid };
                    Save(slot);
                    return;
                case false:
                    slot.Starting = true;
                    break;
            }
        }
        if (!slot.Starting && slot.Record.Pid is null && time.GetUtcNow() - slot.Record.StartedAt < StartGrace)
            slot.Starting = true;
    }

    /// <summary>True: the worker of that marker; false: its launcher (sh or setsid); null: neither.</summary>
    private static bool? IsWorker(int pid, string marker)
    {
        string[] argv;
        try
        {
            argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        if (!argv.Contains(marker))
            return null;
        var program = Path.GetFileName(argv[0]);
        return program is not ("sh" or "setsid");
    }

    private static void Signal(int pid, bool kill)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { kill ? "-KILL" : "-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false });
            process?.WaitForExit(5000);
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }
    }

    private static int FreePort(PortRange range, HashSet<int> used, string key)
    {
        if (range.IsEphemeral)
        {
            // The operating system's choice, held by nothing until the worker binds it a moment later.
            using var socket = new TcpListener(IPAddress.Loopback, 0);
            socket.Start();
            return ((IPEndPoint)socket.LocalEndpoint).Port;
        }
        foreach (var port in range.Ports.Where(p => !used.Contains(p)))
        {
            try
            {
                using var probe = new TcpListener(IPAddress.Any, port);
                probe.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }
        throw new InvalidOperationException($"{key} ({range.First}-{range.Last}) has no free port left.");
    }

    private FileStream? TryLock(string pool)
    {
        var directory = PoolDirectory(pool);
        Directory.CreateDirectory(directory);
        try
        {
            return new FileStream(Path.Combine(directory, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            // Another process on this machine is acting on the pool; this pass only looks.
            return null;
        }
    }

    private string PoolDirectory(string pool) => Path.Combine(_options.DataDir, pool);

    private static string WorkerId(string pool, int slot) => $"{pool}-{slot}";

    private static string Marker(string slotDirectory) => Path.Combine(slotDirectory, "data");

    private List<Slot> Load(string pool)
    {
        var slots = new List<Slot>();
        var directory = PoolDirectory(pool);
        if (!Directory.Exists(directory))
            return slots;
        foreach (var slotDirectory in Directory.EnumerateDirectories(directory, $"{pool}-*"))
        {
            var path = Path.Combine(slotDirectory, RecordFile);
            if (!File.Exists(path))
                continue;
            try
            {
                if (JsonSerializer.Deserialize<WorkerRecord>(File.ReadAllText(path), Json) is { } record && record.Pool == pool)
                    slots.Add(new Slot(slotDirectory, record));
            }
            catch (Exception ex) when (ex is JsonException or IOException)
            {
                logger.LogWarning(ex, "Pool {Pool}: the worker record {Path} cannot be read; its slot is left alone", pool, path);
            }
        }
        return slots;
    }

    /// <summary>Every slot of every pool on this machine, with their processes located: for the machine's cap and its ports.</summary>
    private List<Slot> AllSlots()
    {
        if (!Directory.Exists(_options.DataDir))
            return [];
        var slots = Directory.EnumerateDirectories(_options.DataDir).SelectMany(d => Load(Path.GetFileName(d))).ToList();
        foreach (var slot in slots)
            Locate(slot);
        return slots;
    }

    private static void Save(Slot slot)
    {
        var path = Path.Combine(slot.Directory, RecordFile);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(slot.Record, Json));
        File.Move(temporary, path, overwrite: true);
    }

    public void Dispose() => _probe.Dispose();

    private sealed class Slot(string directory, WorkerRecord record)
    {
        public string Directory { get; } = directory;
        public WorkerRecord Record { get; set; } = record;
        public int? Pid { get; set; }
        public bool Starting { get; set; }
    }
}

/// <summary>One slot's lease and what the process provider knows of its worker, as kept in <c>worker.json</c>.</summary>
public sealed record WorkerRecord
{
    public required string Id { get; init; }
    public required string Pool { get; init; }
    public int Slot { get; init; }
    public int ProxyPort { get; init; }
    public int OpsPort { get; init; }
    public int? HttpsPort { get; init; }
    public int? Pid { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    /// <summary>Restarts in a row without a stable run; the backoff doubles with each.</summary>
    public int Restarts { get; init; }
    /// <summary>Not before this may the worker be started again should it exit.</summary>
    public DateTimeOffset NextStartAt { get; init; }
    /// <summary>Being drained: never restarted; the slot is given up once the process has gone.</summary>
    public bool Retiring { get; init; }
    public DateTimeOffset? RetiringSince { get; init; }
    public DateTimeOffset? DrainAskedAt { get; init; }
}
