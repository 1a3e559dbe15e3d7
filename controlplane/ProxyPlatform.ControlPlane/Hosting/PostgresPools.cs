using Npgsql;

namespace ProxyPlatform.ControlPlane.Hosting;

/// <summary>
/// The control plane's two connection pools, each derived from the one connection string an
/// operator gives (<c>ConnectionStrings:Postgres</c>).
/// </summary>
public static class PostgresPools
{
    /// <summary>The most connections the metrics pool opens.</summary>
    public const int MetricsConnections = 4;

    /// <summary>
    /// Admin commits, membership and default grain storage: durable commits. The control plane sends
    /// the same few statements over and over, so unless the connection string says otherwise, Npgsql
    /// prepares each once it has been used a few times and PostgreSQL stops parsing and planning it
    /// on every call.
    /// </summary>
    public static string Commands(string connectionString) => Build(connectionString, synchronousCommit: true).ConnectionString;

    /// <summary>
    /// Tenants' traffic metrics, which the workers' next cumulative reports rebuild after a crash, so
    /// their writes need not wait for the WAL flush either. At most <see cref="MetricsConnections"/>
    /// connections: a worker's report reaches every tenant with traffic at once, and a hundred
    /// tenants' grains then activate (a read each) and flush together. On the shared pool that burst
    /// opened twenty PostgreSQL backends within milliseconds, each a fork, and their exits when the
    /// pool shrank again, on the same cores the admin writes were waiting for (docs/benchmarks.md).
    /// A few connections take the burst as a short queue instead. The pool names itself in
    /// <c>pg_stat_activity</c> (application name suffix <c>-metrics</c>).
    /// </summary>
    public static string Metrics(string connectionString)
    {
        var builder = Build(connectionString, synchronousCommit: false);
        builder.MaxPoolSize = Math.Min(builder.MaxPoolSize, MetricsConnections);
        builder.MinPoolSize = Math.Min(builder.MinPoolSize, builder.MaxPoolSize);
        builder.ApplicationName = $"{builder.ApplicationName ?? "proxyplatform"}-metrics";
        return builder.ConnectionString;
    }

    private static NpgsqlConnectionStringBuilder Build(string connectionString, bool synchronousCommit)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (builder.MaxAutoPrepare == 0)
            builder.MaxAutoPrepare = 64;
        if (!synchronousCommit)
            builder.Options = string.Join(' ', new[] { builder.Options, "-c synchronous_commit=off" }.Where(o => !string.IsNullOrEmpty(o)));
        return builder;
    }
}
