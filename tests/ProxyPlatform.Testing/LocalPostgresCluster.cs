using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace ProxyPlatform.Testing;

/// <summary>
/// A throwaway PostgreSQL cluster made from the machine's binaries: initdb into a fresh temporary
/// directory, pg_ctl start on a reserved loopback port (<see cref="ReservedPorts"/>), pg_ctl stop -m immediate and delete the
/// directory on dispose. PostgreSQL refuses to run as root, so as root the binaries run as the
/// <c>postgres</c> OS user through runuser. Clusters left behind by a test process that died
/// without cleaning up are stopped and removed by the next start.
/// </summary>
internal sealed class LocalPostgresCluster : IDisposable
{
    private const string DirectoryPrefix = "proxyplatform-pg-";
    private const string OwnerFile = "owner.pid";
    private const string Superuser = "postgres";

    private static readonly bool AsPostgresUser = Environment.UserName == "root";

    private readonly string _binDir;
    private readonly string _root;
    private int _disposed;

    private LocalPostgresCluster(string binDir, string root, int port, string version)
    {
        _binDir = binDir;
        _root = root;
        Port = port;
        Version = version;
    }

    public int Port { get; }
    public string Version { get; }
    public string Directory => _root;
    private string DataDir => Path.Combine(_root, "data");
    private string LogFile => Path.Combine(_root, "postgres.log");

    public string ConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = Superuser,
        Database = "postgres",
    }.ConnectionString;

    public static async Task<LocalPostgresCluster> StartAsync(CancellationToken cancellationToken = default)
    {
        var binDir = FindBinDir() ?? throw new InvalidOperationException(
            "No PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, pg_config --bindir and PATH). " +
            $"Install PostgreSQL, start a Docker engine, or set {PostgresServer.ConnectionStringVariable} to an admin connection string.");
        await ReapAbandonedAsync(binDir);

        var root = System.IO.Directory.CreateTempSubdirectory(DirectoryPrefix).FullName;
        await File.WriteAllTextAsync(Path.Combine(root, OwnerFile), Environment.ProcessId.ToString(CultureInfo.InvariantCulture), cancellationToken);
        try
        {
            if (AsPostgresUser)
                await RunAsync("chown", [$"{Superuser}:", root], root, asPostgres: false, cancellationToken);

            await RunAsync(Path.Combine(binDir, "initdb"),
                ["-D", Path.Combine(root, "data"), "-U", Superuser, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"],
                root, AsPostgresUser, cancellationToken);
            var version = (await RunAsync(Path.Combine(binDir, "postgres"), ["--version"], root, asPostgres: false, cancellationToken)).Trim();

            for (var attempt = 1; ; attempt++)
            {
                // PostgreSQL cannot be asked for port 0 and say which it got: a reserved port (outside the
                // ephemeral range, locked against every other test run on the machine) is the next best.
                var cluster = new LocalPostgresCluster(binDir, root, ReservedPorts.Take(), version);
                try
                {
                    await cluster.StartServerAsync(cancellationToken);
                    await cluster.WaitUntilReadyAsync(cancellationToken);
                    return cluster;
                }
                catch (InvalidOperationException) when (attempt < 3)
                {
                    // A program outside the test runs took the port after it was reserved: try another.
                    await cluster.StopServerAsync();
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
        StopServerAsync().GetAwaiter().GetResult();
        DeleteDirectory(_root);
    }

    private async Task StartServerAsync(CancellationToken cancellationToken)
    {
        var settings = string.Join(' ',
            $"-p {Port.ToString(CultureInfo.InvariantCulture)}",
            "-c listen_addresses=127.0.0.1",
            $"-c unix_socket_directories={_root}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=300");
        try
        {
            await RunAsync(Path.Combine(_binDir, "pg_ctl"),
                ["-D", DataDir, "-l", LogFile, "-o", settings, "-w", "-t", "60", "-s", "start"],
                _root, AsPostgresUser, cancellationToken);
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

    private Task StopServerAsync() => StopAsync(_binDir, DataDir);

    private static async Task StopAsync(string binDir, string dataDir)
    {
        if (!File.Exists(Path.Combine(dataDir, "postmaster.pid")))
            return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await RunAsync(Path.Combine(binDir, "pg_ctl"), ["-D", dataDir, "-m", "immediate", "-w", "-s", "stop"],
                Path.GetDirectoryName(dataDir)!, AsPostgresUser, timeout.Token);
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException)
        {
            // Already stopped, or stuck: nothing more a test run can do about it.
        }
    }

    /// <summary>Stops and removes clusters whose owning test process is gone.</summary>
    private static async Task ReapAbandonedAsync(string binDir)
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
                await StopAsync(binDir, Path.Combine(dir, "data"));
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

    private static string? FindBinDir()
    {
        static bool HasServer(string dir) =>
            File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")) && File.Exists(Path.Combine(dir, "postgres"));

        var versioned = new[] { ("/usr/lib/postgresql", ""), ("/usr", "pgsql-") }
            .Where(p => System.IO.Directory.Exists(p.Item1))
            .SelectMany(p => System.IO.Directory.EnumerateDirectories(p.Item1, p.Item2 + "*")
                .Select(d => (Dir: Path.Combine(d, "bin"), Name: Path.GetFileName(d)[p.Item2.Length..])))
            .Select(d => (d.Dir, Version: System.Version.TryParse(d.Name.Contains('.', StringComparison.Ordinal) ? d.Name : d.Name + ".0", out var v) ? v : null))
            .Where(d => d.Version is not null && HasServer(d.Dir))
            .OrderByDescending(d => d.Version)
            .Select(d => d.Dir)
            .FirstOrDefault();
        if (versioned is not null)
            return versioned;

        try
        {
            var fromPgConfig = RunAsync("pg_config", ["--bindir"], Path.GetTempPath(), asPostgres: false, CancellationToken.None)
                .GetAwaiter().GetResult().Trim();
            if (HasServer(fromPgConfig))
                return fromPgConfig;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var initdb = Path.Combine(dir, "initdb");
            if (!File.Exists(initdb))
                continue;
            var target = new FileInfo(initdb).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? initdb;
            var resolved = Path.GetDirectoryName(target)!;
            if (HasServer(resolved))
                return resolved;
        }
        return null;
    }

    private static async Task<string> RunAsync(string file, IReadOnlyList<string> arguments, string workingDirectory, bool asPostgres, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", Superuser, "--", file })
                start.ArgumentList.Add(a);
        }
        foreach (var a in arguments)
            start.ArgumentList.Add(a);

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
