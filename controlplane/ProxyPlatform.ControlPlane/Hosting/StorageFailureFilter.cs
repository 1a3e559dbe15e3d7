using Npgsql;

namespace ProxyPlatform.ControlPlane.Hosting;

/// <summary>
/// Lets a grain's storage failure leave the grain as an exception its caller can read. Npgsql's exceptions
/// (and socket errors) have no Orleans codec: thrown out of a grain they reached the caller, on this silo
/// or another, as a codec error that hid the cause and was answered 500 — the chaos suite's "500s after
/// PostgreSQL came back". It becomes a <see cref="StorageUnavailableException"/> (503, nothing
/// acknowledged), as the admin APIs already treat any Npgsql failure (<see cref="Api.TransientFailures"/>).
/// </summary>
public sealed class StorageFailureFilter : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (Exception error) when (Translate(error) is { } readable)
        {
            throw readable;
        }
    }

    /// <summary>What to throw instead of <paramref name="error"/>, or null when it crosses silos as it is.</summary>
    public static Exception? Translate(Exception error)
    {
        for (var inner = error; inner is not null; inner = inner.InnerException)
        {
            if (inner is NpgsqlException or System.Net.Sockets.SocketException)
                return new StorageUnavailableException($"{inner.GetType().Name}: {inner.Message}");
        }
        return null;
    }
}
