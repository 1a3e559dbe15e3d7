using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using Npgsql;
using Testcontainers.PostgreSql;

namespace ProxyPlatform.Testing;

/// <summary>
/// The one PostgreSQL server a test process shares; each test class takes its own database on it
/// with <see cref="CreateDatabaseAsync"/>. Chosen once, on first use: the server named by the
/// <c>PROXYPLATFORM_TEST_POSTGRES</c> environment variable (an admin connection string); else a
/// Testcontainers container when a Docker engine answers; else a throwaway cluster started from
/// the machine's PostgreSQL binaries. It is stopped when the process exits.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    /// <summary>The environment variable that points the tests at an existing server.</summary>
    public const string ConnectionStringVariable = "PROXYPLATFORM_TEST_POSTGRES";

    private const string DockerImage = "postgres:15-alpine";

    private static readonly Lazy<Task<PostgresServer>> Shared =
        new(() => Task.Run(StartAsync), LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly Func<Task>? _stop;
    private readonly LocalPostgresCluster? _own;
    private readonly bool _dropDatabasesOnDispose;
    private readonly ConcurrentBag<string> _databases = [];
    private int _disposed;

    private PostgresServer(string adminConnectionString, string description, Func<Task>? stop, bool dropDatabasesOnDispose, LocalPostgresCluster? own = null)
    {
        _own = own;
        AdminConnectionString = adminConnectionString;
        Description = description;
        _stop = stop;
        _dropDatabasesOnDispose = dropDatabasesOnDispose;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();
    }

    /// <summary>A superuser connection string to the server's <c>postgres</c> database.</summary>
    public string AdminConnectionString { get; }

    /// <summary>Which server this is, for diagnostics (e.g. "local cluster, PostgreSQL 15.8, port 41234").</summary>
    public string Description { get; }

    /// <summary>The process-wide server, started on the first call; later calls share it.</summary>
    public static Task<PostgresServer> GetAsync() => Shared.Value;

    /// <summary>
    /// A server of the caller's own, apart from the shared one: a throwaway local cluster that
    /// <see cref="StopAsync"/> and <see cref="StartAgainAsync"/> can take down and bring back (an outage
    /// that would break every other test on the shared server). Its commits are durable against that stop
    /// (<c>synchronous_commit=on</c>), as a production server's are. Dispose it when done.
    /// </summary>
    public static async Task<PostgresServer> StartOwnAsync()
    {
        var cluster = await LocalPostgresCluster.StartAsync(durable: true);
        return new PostgresServer(cluster.ConnectionString, $"own local cluster, {cluster.Version}, port {cluster.Port}, in {cluster.Directory}",
            () =>
            {
                cluster.Dispose();
                return Task.CompletedTask;
            },
            dropDatabasesOnDispose: false, own: cluster);
    }

    /// <summary>Stops a server of one's own (<see cref="StartOwnAsync"/>) at once, as a crash of the database would (<c>-m immediate</c>).</summary>
    public Task StopAsync() => (_own ?? throw OnlyOwn()).StopServerAsync();

    /// <summary>Starts a server of one's own again on its port and data, and waits until it accepts connections.</summary>
    public async Task StartAgainAsync()
    {
        await (_own ?? throw OnlyOwn()).StartServerAgainAsync();
        // This process's idle connections died with the server: the next database a caller creates needs a new one.
        NpgsqlConnection.ClearAllPools();
    }

    private static InvalidOperationException OnlyOwn() => new("Only a server of one's own (StartOwnAsync) may be stopped and started.");

    /// <summary>
    /// Creates an empty database named after <paramref name="prefix"/> plus a unique suffix and
    /// returns a pooled connection string to it.
    /// </summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var name = DatabaseName(prefix);
        await using (var connection = new NpgsqlConnection(AdminConnectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\" TEMPLATE template0", connection);
            await create.ExecuteNonQueryAsync();
        }
        _databases.Add(name);
        return new NpgsqlConnectionStringBuilder(AdminConnectionString)
        {
            Database = name,
            Pooling = true,
            MinPoolSize = 0,
            MaxPoolSize = 30,
            ConnectionIdleLifetime = 10,
            ConnectionPruningInterval = 5,
            Timeout = 30,
            CommandTimeout = 60,
            IncludeErrorDetail = true,
        }.ConnectionString;
    }

    /// <summary>
    /// Stops the server if this process started it (a container or a local cluster), or drops the
    /// databases it created on a server named by <see cref="ConnectionStringVariable"/>. Runs by
    /// itself at process exit; the shared instance is unusable afterwards.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        NpgsqlConnection.ClearAllPools();
        if (_dropDatabasesOnDispose)
            DropDatabases();
        if (_stop is not null)
            _stop().GetAwaiter().GetResult();
    }

    private static async Task<PostgresServer> StartAsync()
    {
        var configured = Environment.GetEnvironmentVariable(ConnectionStringVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            var server = new NpgsqlConnectionStringBuilder(configured);
            return new PostgresServer(configured, $"{ConnectionStringVariable}: {server.Host}:{server.Port}", stop: null, dropDatabasesOnDispose: true);
        }

        if (DockerAnswers() && await TryStartContainerAsync() is { } containerized)
            return containerized;

        var cluster = await LocalPostgresCluster.StartAsync();
        return new PostgresServer(cluster.ConnectionString, $"local cluster, {cluster.Version}, port {cluster.Port}, in {cluster.Directory}",
            () =>
            {
                cluster.Dispose();
                return Task.CompletedTask;
            },
            dropDatabasesOnDispose: false);
    }

    private static async Task<PostgresServer?> TryStartContainerAsync()
    {
        PostgreSqlContainer? container = null;
        try
        {
            container = new PostgreSqlBuilder(DockerImage)
                .WithCommand("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300")
                .Build();
            await container.StartAsync();
            var started = container;
            return new PostgresServer(started.GetConnectionString(), $"Testcontainers {DockerImage}",
                () => started.DisposeAsync().AsTask(), dropDatabasesOnDispose: false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The engine is unreachable or cannot run the container: the local binaries will do.
            try
            {
                if (container is not null)
                    await container.DisposeAsync();
            }
            catch (Exception cleanup) when (cleanup is not OutOfMemoryException)
            {
                // Nothing was started, so nothing is left to clean up.
            }
            return null;
        }
    }

    private void DropDatabases()
    {
        try
        {
            using var connection = new NpgsqlConnection(AdminConnectionString);
            connection.Open();
            foreach (var name in _databases)
            {
                using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
                drop.ExecuteNonQuery();
            }
        }
        catch (NpgsqlException)
        {
            // Best effort: the databases carry a unique suffix and never collide with a later run.
        }
    }

    private static string DatabaseName(string prefix)
    {
        var name = new StringBuilder();
        foreach (var c in prefix.ToLowerInvariant())
        {
            if (name.Length == 40)
                break;
            name.Append(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' ? c : '_');
        }
        if (name.Length == 0 || !char.IsAsciiLetter(name[0]))
            name.Insert(0, "db_");
        return $"{name}_{Guid.NewGuid():N}"[..Math.Min(63, name.Length + 13)];
    }

    /// <summary>True when DOCKER_HOST is set, or the default Docker socket answers a ping.</summary>
    private static bool DockerAnswers()
    {
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("DOCKER_HOST")))
            return true;
        const string socketPath = "/var/run/docker.sock";
        if (!File.Exists(socketPath))
            return false;
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.SendTimeout = 2000;
            socket.ReceiveTimeout = 2000;
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            socket.Send("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"u8);
            var buffer = new byte[64];
            var read = socket.Receive(buffer);
            var status = Encoding.ASCII.GetString(buffer, 0, read);
            return status.StartsWith("HTTP/1.", StringComparison.Ordinal) && status.Contains(" 200 ", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
