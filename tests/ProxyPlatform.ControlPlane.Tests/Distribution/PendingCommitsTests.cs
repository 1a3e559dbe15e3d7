using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Tests.Distribution;

public sealed class PendingCommitsTests
{
    private static PendingCommit Change(string id, int jsonLength) =>
        new([new ConfigEntry(ResourceKey.OfRoute("t", id), 0, new string('x', jsonLength))]);

    [Fact]
    public void Changes_past_the_count_are_refused_as_busy_and_the_queue_takes_more_once_it_drains()
    {
        var queue = new PendingCommits(maxCount: 3, maxBytes: 1_000_000);
        for (var i = 0; i < 3; i++)
            queue.Enqueue(Change($"r{i}", 10), "default");

        var refused = Assert.Throws<AdminException>(() => queue.Enqueue(Change("r3", 10), "default"));
        Assert.Equal(AdminErrorKind.Busy, refused.Kind);
        Assert.Contains("'default'", refused.Message, StringComparison.Ordinal);
        Assert.Equal(3, queue.Count);

        Assert.True(queue.TryDequeue(out var first));
        Assert.Equal("r0", first.Entries[0].Key.Id);
        queue.Enqueue(Change("r3", 10), "default");
        Assert.Equal(3, queue.Count);
    }

    [Fact]
    public void Changes_past_the_bytes_are_refused_however_few_they_are()
    {
        var queue = new PendingCommits(maxCount: 100, maxBytes: 1000);
        queue.Enqueue(Change("big", 900), "default");

        Assert.Equal(AdminErrorKind.Busy, Assert.Throws<AdminException>(() => queue.Enqueue(Change("more", 200), "default")).Kind);
        Assert.Equal(900, queue.Bytes);
        queue.Enqueue(Change("small", 100), "default");
        Assert.True(queue.TryDequeue(out _));
        Assert.Equal(100, queue.Bytes);
    }
}
