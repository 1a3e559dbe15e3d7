using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Npgsql;

namespace ProxyPlatform.Testing;

/// <summary>
/// A throwaway PostgreSQL cluster made from the machine's binaries by <c>infra/postgres.sh</c>, the
/// project's one way of bootstrapping a local server: initialised in a fresh temporary directory,
/// started on a reserved loopback port (<see cref="ReservedPorts"/>), stopped (<c>-m immediate</c>) and
/// deleted on dispose. Clusters left behind by a test process that died without cleaning up are
/// stopped and removed by the next start.
/// </summary>
internal sealed class LocalPostgresCluster : IDisposable
{
    private const string DirectoryPrefix = "proxyplatform-pg-";
    private const string OwnerFile = "owner.pid";
    private const string Superuser = "postgres";
    // Durability traded for speed: a test database never outlives its run.
    private const string TestSettings = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off";
    // For a server that a test stops at once on purpose: with synchronous_commit=off a commit is answered
    // before its WAL leaves shared memory, so an immediate stop would lose writes that were acknowledged.
    private const string DurableSettings = "-c synchronous_commit=on";

    private static readonly string Script = typeof(LocalPostgresCluster).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "PostgresScript").Value!;

    private readonly string _root;
    private int _disposed;

    private readonly bool _durable;

    private LocalPostgresCluster(string root, int port, string version, bool durable)
    {
        _durable = durable;
        _root = root;
        Port = port;
        Version = version;
    }

    public int Port { get; }
    public string Version { get; }
    public string Directory => _root;
    private string DataDir => Path.Combine(_root, "data");
    private string LogFile => Path.Combine(DataDir, "server.log");

    public string ConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = Superuser,
        Database = "postgres",
    }.ConnectionString;

    /// <param name="durable">Commits are answered once their WAL is written (<c>synchronous_commit=on</c>), so that
    /// stopping the server at once loses nothing acknowledged; the test speed-ups are kept otherwise.</param>
    public static async Task<LocalPostgresCluster> StartAsync(bool durable = false, CancellationToken cancellationToken = default)
    {
        string binDir;
        try
        {
            binDir = (await RunAsync(["bindir"], cancellationToken)).Trim();
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException(
                $"{e.Message} Install PostgreSQL, start a Docker engine, or set {PostgresServer.ConnectionStringVariable} to an admin connection string.", e);
        }
        await ReapAbandonedAsync();

        var root = System.IO.Directory.CreateTempSubdirectory(DirectoryPrefix).FullName;
        // The server may run as the postgres user (when the tests run as root): it must reach its data directory.
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        await File.WriteAllTextAsync(Path.Combine(root, OwnerFile), Environment.ProcessId.ToString(CultureInfo.InvariantCulture), cancellationToken);
        try
        {
            var version = (await Run(Path.Combine(binDir, "postgres"), ["--version"], environment: null, cancellationToken)).Trim();
            for (var attempt = 1; ; attempt++)
            {
                // PostgreSQL cannot be asked for port 0 and say which it got: a reserved port (outside the
                // ephemeral range, locked against every other test run on the machine) is the next best.
                var cluster = new LocalPostgresCluster(root, ReservedPorts.Take(), version, durable);
                try
                {
                    await cluster.StartServerAsync(cancellationToken);
                    await cluster.WaitUntilReadyAsync(cancellationToken);
                    return cluster;
                }
                catch (InvalidOperationException) when (attempt < 3)
                {
                    // A program outside the test runs took the port after it was reserved: try another.
                    await StopAsync(cluster.DataDir);
                }
            }
        }
        catch
        {
            DeleteDirectory(root);
            throw;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        StopAsync(DataDir).GetAwaiter().GetResult();
        DeleteDirectory(_root);
    }

    /// <summary>Stops the server (<c>-m immediate</c>), keeping its data and port for <see cref="StartServerAgainAsync"/>.</summary>
    public Task StopServerAsync() => StopAsync(DataDir);

    /// <summary>Starts the stopped server again on its data and port, and waits until it accepts connections.</summary>
    public async Task StartServerAgainAsync()
    {
        await StartServerAsync(CancellationToken.None);
        await WaitUntilReadyAsync(CancellationToken.None);
    }

    private async Task StartServerAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Run("bash", [Script, "start", DataDir, Port.ToString(CultureInfo.InvariantCulture)],
                new Dictionary<string, string> { ["PG_LOCAL_EXTRA_OPTS"] = _durable ? $"{TestSettings} {DurableSettings}" : TestSettings }, cancellationToken);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"{e.Message}\n--- server log ---\n{ReadLog()}", e);
        }
    }
    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        var connectionString = new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false, Timeout = 5 }.ConnectionString;
        try
        {
            await Eventually.Succeeds(async () =>
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync(cancellationToken);
                return true;
            }, transient: e => e is NpgsqlException);
        }
        catch (NpgsqlException e)
        {
            throw new InvalidOperationException($"PostgreSQL on port {Port} does not accept connections: {e.Message}\n--- server log ---\n{ReadLog()}", e);
        }
    }

    private static async Task StopAsync(string dataDir)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await RunAsync(["stop", dataDir, "immediate"], timeout.Token);
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException)
        {
            // Stuck: nothing more a test run can do about it.
        }
    }

    /// <summary>Stops and removes clusters whose owning test process is gone.</summary>
    private static async Task ReapAbandonedAsync()
    {
        foreach (var dir in System.IO.Directory.EnumerateDirectories(Path.GetTempPath(), DirectoryPrefix + "*"))
        {
            try
            {
                var ownerFile = Path.Combine(dir, OwnerFile);
                var abandoned = File.Exists(ownerFile)
                    ? int.TryParse(File.ReadAllText(ownerFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && !IsAlive(pid)
                    : System.IO.Directory.GetCreationTimeUtc(dir) < DateTime.UtcNow.AddHours(-1);
                if (!abandoned)
                    continue;
                await StopAsync(Path.Combine(dir, "data"));
                DeleteDirectory(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another process is cleaning it up, or it is not ours to remove.
            }
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private string ReadLog()
    {
        try
        {
            return File.Exists(LogFile) ? File.ReadAllText(LogFile) : "(no log)";
        }
        catch (IOException e)
        {
            return $"(log unreadable: {e.Message})";
        }
    }

    private static void DeleteDirectory(string dir)
    {
        try
        {
            System.IO.Directory.Delete(dir, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private static Task<string> RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken) =>
        Run("bash", [Script, .. arguments], environment: null, cancellationToken);

    private static async Task<string> Run(string file, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
            start.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        var output = await stdout + await stderr;
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{string.Join(' ', start.ArgumentList.Prepend(start.FileName))} exited with {process.ExitCode}: {output}");
        return output;
    }
}
