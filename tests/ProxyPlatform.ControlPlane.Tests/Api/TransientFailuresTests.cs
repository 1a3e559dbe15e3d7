using ProxyPlatform.ControlPlane.Api;

namespace ProxyPlatform.ControlPlane.Tests.Api;

public sealed class TransientFailuresTests
{
    public static TheoryData<string, Exception> Transient => new()
    {
        { "Npgsql directly", new Npgsql.NpgsqlException("connection refused") },
        { "a grain's storage error: Orleans around Npgsql around a socket", new OrleansException("storage failed", new Npgsql.NpgsqlException("broken", new System.Net.Sockets.SocketException())) },
        { "stored state one write ahead after a reconnect", new Orleans.Storage.InconsistentStateException("etag mismatch") },
        { "deep in an aggregate", new AggregateException(new InvalidOperationException("outer", new OrleansException("x", new Npgsql.NpgsqlException("y")))) },
        { "a grain call past its time-out", new TimeoutException() },
        { "a silo that just died", new SiloUnavailableException() },
    };

    [Theory]
    [MemberData(nameof(Transient))]
    public void Failures_a_retry_can_outlive_are_found_however_deep_they_are_wrapped(string why, Exception error)
    {
        Assert.True(TransientFailures.IsTransient(error), why);
    }

    [Fact]
    public void Programming_errors_are_not_transient()
    {
        Assert.False(TransientFailures.IsTransient(new InvalidOperationException("bug", new ArgumentException("bad"))));
        Assert.False(TransientFailures.IsTransient(new AggregateException(new NullReferenceException())));
        Assert.False(TransientFailures.IsTransient(null));
    }

    [Fact]
    public void A_grains_storage_failure_leaves_the_grain_as_an_exception_with_a_codec_that_the_admin_APIs_answer_503()
    {
        var translated = Hosting.StorageFailureFilter.Translate(new OrleansException("write failed", new Npgsql.NpgsqlException("Exception while reading from stream", new System.IO.IOException("reset"))));
        var unavailable = Assert.IsType<StorageUnavailableException>(translated);
        Assert.Contains("Exception while reading from stream", unavailable.Message);
        Assert.True(TransientFailures.IsTransient(unavailable));
        // Everything else crosses silos as it is.
        Assert.Null(Hosting.StorageFailureFilter.Translate(new AdminException(AdminErrorKind.Conflict, "in the way")));
        Assert.Null(Hosting.StorageFailureFilter.Translate(new InvalidOperationException("bug")));
    }
}
