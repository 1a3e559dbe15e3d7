namespace ProxyPlatform.ControlPlane.Api;

/// <summary>
/// Failures of the cluster or the database that a retry can outlive: a silo that just died, PostgreSQL
/// unreachable or just restarted (its pooled connections broken, a grain's stored state one write ahead
/// of its activation), a call past its time-out. Looked for anywhere in an exception's chain, since
/// Orleans and Npgsql wrap one another (a grain's storage error reaches the caller as an Orleans
/// exception around an Npgsql one). Both admin APIs answer them as "unavailable, retry" (REST 503 with
/// Retry-After, gRPC UNAVAILABLE): nothing was acknowledged.
/// </summary>
public static class TransientFailures
{
    public static bool IsTransient(Exception? error) => Find(error, depth: 0) is not null;

    /// <summary>The transient failure in <paramref name="error"/>'s chain, for the log.</summary>
    public static Exception? Find(Exception? error, int depth = 0)
    {
        for (; error is not null && depth < 16; error = error.InnerException, depth++)
        {
            if (error is Npgsql.NpgsqlException or StorageUnavailableException or SiloUnavailableException or OrleansMessageRejectionException or ClientNotAvailableException
                or TimeoutException or Orleans.Storage.InconsistentStateException or System.Net.Sockets.SocketException or OperationCanceledException)
                return error;
            if (error is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    if (Find(inner, depth + 1) is { } found)
                        return found;
                }
                return null;
            }
        }
        return null;
    }
}
