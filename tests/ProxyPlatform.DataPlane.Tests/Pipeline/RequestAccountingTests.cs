using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.DataPlane.Pipeline;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.RequestPathParts;

namespace ProxyPlatform.DataPlane.Tests.Pipeline;

/// <summary>How a request is counted on its route.</summary>
public sealed class RequestAccountingTests
{
    [Fact]
    public void A_request_is_counted_once_under_the_status_the_client_got_with_its_bytes_both_ways()
    {
        var traffic = new TrafficCounters();
        var context = Request("PUT", body: new byte[300]);
        using (new RequestAccounting(context, traffic))
        {
            context.Response.StatusCode = 404;
            context.Response.ContentLength = 42;
        }

        var reading = traffic.Read();
        Assert.Equal([0, 0, 0, 1, 0], reading.RequestsByClass);
        Assert.Equal((300, 42), (reading.BytesIn, reading.BytesOut));
        Assert.Equal(1, reading.LatencyBuckets.Sum());
    }

    [Fact]
    public void A_client_that_left_before_an_answer_started_counts_as_499()
    {
        var traffic = new TrafficCounters();
        var context = Request();
        using var left = new CancellationTokenSource();
        context.RequestAborted = left.Token;
        using (new RequestAccounting(context, traffic))
        {
            context.Response.StatusCode = 502;
            left.Cancel();
        }

        Assert.Equal([0, 0, 0, 1, 0], traffic.Read().RequestsByClass);
    }

    [Fact]
    public async Task A_body_without_a_length_is_counted_as_it_is_read_and_one_with_a_length_from_it()
    {
        var traffic = new TrafficCounters();
        var chunked = Request("POST", body: new byte[5000], chunked: true);
        using (new RequestAccounting(chunked, traffic))
        {
            RequestAccounting.CountBodyWithoutLength(chunked);
            Assert.IsType<CountingStream>(chunked.Request.Body);
            await chunked.Request.Body.CopyToAsync(Stream.Null, TestContext.Current.CancellationToken);
        }
        Assert.Equal(5000, traffic.Read().BytesIn);

        var declared = Request("POST", body: new byte[10]);
        RequestAccounting.CountBodyWithoutLength(declared);
        Assert.IsNotType<CountingStream>(declared.Request.Body);
        var bodiless = Request();
        RequestAccounting.CountBodyWithoutLength(bodiless);
        Assert.IsNotType<CountingStream>(bodiless.Request.Body);
    }

    [Fact]
    public void Counting_a_request_allocates_nothing()
    {
        var traffic = new TrafficCounters();
        var context = Request();
        new RequestAccounting(context, traffic).Dispose();

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            using var accounting = new RequestAccounting(context, traffic);
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
        Assert.Equal(101, traffic.Read().Requests);
    }
}
