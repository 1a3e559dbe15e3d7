using Microsoft.AspNetCore.Http;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Pipeline;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.RequestPathParts;

namespace ProxyPlatform.DataPlane.Tests.Pipeline;

public sealed class BodyReplayTests
{
    private static readonly ClusterRuntime Web = Cluster(null, ("a", "http://127.0.0.1:9"));

    [Fact]
    public void A_request_has_a_body_when_its_length_is_above_0_or_the_server_expects_one()
    {
        Assert.True(BodyReplay.HasBody(Request("PUT", body: [1])));
        Assert.True(BodyReplay.HasBody(Request("PUT", body: [1], chunked: true)));
        Assert.False(BodyReplay.HasBody(Request("PUT", body: [])));
        Assert.False(BodyReplay.HasBody(Request("GET")));
    }

    [Fact]
    public async Task A_kept_body_can_be_read_again_from_its_start()
    {
        var context = Request("PUT", body: [1, 2, 3, 4, 5]);

        Assert.True(await BodyReplay.TryBufferAsync(context, Route(Web), Web, TestContext.Current.CancellationToken));
        Assert.Equal([1, 2, 3, 4, 5], await ReadAsync(context.Request));
        BodyReplay.Rewind(context.Request);
        Assert.Equal([1, 2, 3, 4, 5], await ReadAsync(context.Request));
    }

    [Fact]
    public async Task A_body_over_the_route_limit_found_while_keeping_it_is_answered_413()
    {
        var context = Request("PUT", body: new byte[10]);
        context.Request.Body = new FailingBody(new BadHttpRequestException("too large", StatusCodes.Status413PayloadTooLarge));

        Assert.False(await BodyReplay.TryBufferAsync(context, Route(Web, maxRequestBodyBytes: 8), Web, TestContext.Current.CancellationToken));
        Assert.Equal((413, "body-too-large"), (context.Response.StatusCode, ProblemType(context)));
        Assert.Contains("(8 bytes)", ResponseText(context), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_that_ends_early_is_answered_400_unless_the_client_left()
    {
        var context = Request("PUT", body: new byte[10]);
        context.Request.Body = new FailingBody(new IOException("Unexpected end of request content."));

        Assert.False(await BodyReplay.TryBufferAsync(context, Route(Web), Web, TestContext.Current.CancellationToken));
        Assert.Equal((400, "bad-request"), (context.Response.StatusCode, ProblemType(context)));

        var left = Request("PUT", body: new byte[10]);
        left.Request.Body = new FailingBody(new IOException("reset"));
        using var gone = new CancellationTokenSource();
        gone.Cancel();
        left.RequestAborted = gone.Token;
        Assert.False(await BodyReplay.TryBufferAsync(left, Route(Web), Web, TestContext.Current.CancellationToken));
        Assert.Equal(0, left.Response.Body.Length);
    }

    private static async Task<byte[]> ReadAsync(HttpRequest request)
    {
        using var copy = new MemoryStream();
        await request.Body.CopyToAsync(copy, TestContext.Current.CancellationToken);
        return copy.ToArray();
    }

    /// <summary>A request body whose reading fails as Kestrel's does past a limit or on a truncated body.</summary>
    private sealed class FailingBody(Exception failure) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw failure;
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromException<int>(failure);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
