using Microsoft.Extensions.Logging.Abstractions;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Tests.Distribution;

/// <summary>
/// A node's feed of a pool: notifications from the distribution grain can overtake one another on
/// their way to the node, and the feed must put them back in order rather than pull the pool's
/// changes again for each one that arrives early.
/// </summary>
public sealed class PoolFeedTests
{
    private static ConfigEntry Route(string id, long revision) =>
        new(ResourceKey.OfRoute("t", id), revision, $$$"""{"cluster":"web","match":{"pathPrefix":"/{{{id}}}"}}""");

    private static ConfigDelta Delta(long from, long to, params ConfigEntry[] entries) => new(from, to, entries);

    /// <summary>A feed whose grain factory is unusable: a catch-up from the grain would fail and change nothing.</summary>
    private static PoolFeed LoadedAt(long revision, params ConfigEntry[] entries)
    {
        var feed = new PoolFeed("default", grains: null!, NullLogger.Instance);
        feed.Load(new PoolSnapshot("default", revision, entries));
        return feed;
    }

    private static List<string> UpsertsFor(PoolFeed feed, long from) =>
        [.. feed.BuildUpdate(from, forceFull: false)!.Upserts.Select(u => u.Key.Id).Order(StringComparer.Ordinal)];

    [Fact]
    public void A_notification_that_arrives_before_the_one_it_follows_is_applied_after_it()
    {
        var feed = LoadedAt(10, Route("a", 10));

        feed.OnConfigChanged(Delta(11, 12, Route("c", 12)));
        Assert.Equal(10, feed.Revision);
        feed.OnConfigChanged(Delta(10, 11, Route("b", 11)));

        Assert.Equal(12, feed.Revision);
        Assert.Equal(["b", "c"], UpsertsFor(feed, 10));
        Assert.Equal(["c"], UpsertsFor(feed, 11));
    }

    [Fact]
    public void Several_early_notifications_are_applied_in_revision_order()
    {
        var feed = LoadedAt(10);

        feed.OnConfigChanged(Delta(13, 14, Route("a", 14)));
        feed.OnConfigChanged(Delta(12, 13, Route("a", 13)));
        feed.OnConfigChanged(Delta(11, 12, Route("b", 12)));
        Assert.Equal(10, feed.Revision);
        feed.OnConfigChanged(Delta(10, 11, Route("c", 11)));

        Assert.Equal(14, feed.Revision);
        var update = feed.BuildUpdate(10, forceFull: false)!;
        Assert.Equal(14, update.Upserts.Single(u => u.Key.Id == "a").Revision);
        Assert.Equal(["a", "b", "c"], UpsertsFor(feed, 10));
    }

    [Fact]
    public void A_delta_that_overlaps_what_the_feed_has_adds_only_the_newer_changes()
    {
        var feed = LoadedAt(10);
        feed.OnConfigChanged(Delta(10, 12, Route("a", 11), Route("b", 12)));

        // A catch-up answer (from 10) racing the notifications it covers.
        feed.OnConfigChanged(Delta(10, 13, Route("a", 11), Route("b", 12), Route("c", 13)));

        Assert.Equal(13, feed.Revision);
        Assert.Equal(["c"], UpsertsFor(feed, 12));
        Assert.Equal(["a", "b", "c"], UpsertsFor(feed, 10));
    }

    [Fact]
    public void Notifications_the_feed_already_has_change_nothing()
    {
        var feed = LoadedAt(10);
        feed.OnConfigChanged(Delta(10, 11, Route("a", 11)));
        feed.OnConfigChanged(Delta(10, 11, Route("a", 11)));
        feed.OnConfigChanged(Delta(9, 10, Route("z", 10)));

        Assert.Equal(11, feed.Revision);
        Assert.Equal(["a"], UpsertsFor(feed, 10));
        Assert.Null(feed.BuildUpdate(11, forceFull: false));
    }

    private static ConfigEntry Removed(string id, long revision) => new(ResourceKey.OfRoute("t", id), revision, null);

    [Fact]
    public void A_worker_from_before_the_pruned_removals_is_sent_a_snapshot_and_one_after_them_a_delta()
    {
        var feed = LoadedAt(10, Route("a", 5), Route("b", 6), Route("c", 7));
        feed.OnConfigChanged(Delta(10, 11, Removed("a", 11)));
        feed.OnConfigChanged(Delta(11, 12, Removed("b", 12)));
        feed.OnConfigChanged(Delta(12, 13, Route("d", 13)));
        Assert.Equal(2, feed.Tombstones);
        // Before pruning, a worker at 10 is told of both removals.
        Assert.Equal(2, feed.BuildUpdate(10, forceFull: false)!.Removals.Count);

        feed.OnPruned(12);

        Assert.Equal(0, feed.Tombstones);
        var behind = feed.BuildUpdate(10, forceFull: false)!;
        Assert.Equal(0, behind.BaseRevision);
        Assert.Equal(["c", "d"], behind.Upserts.Select(u => u.Key.Id).Order(StringComparer.Ordinal));
        var current = feed.BuildUpdate(12, forceFull: false)!;
        Assert.Equal(12, current.BaseRevision);
        Assert.Equal(["d"], current.Upserts.Select(u => u.Key.Id));
    }

    [Fact]
    public void A_feed_loaded_from_a_pruned_snapshot_sends_a_snapshot_to_workers_from_before_it()
    {
        var feed = new PoolFeed("default", grains: null!, NullLogger.Instance);
        feed.Load(new PoolSnapshot("default", 20, [Route("a", 5), Removed("b", 18)], PrunedThrough: 15));

        Assert.Equal(0, feed.BuildUpdate(12, forceFull: false)!.BaseRevision);
        var delta = feed.BuildUpdate(16, forceFull: false)!;
        Assert.Equal(16, delta.BaseRevision);
        Assert.Equal(["b"], delta.Removals.Select(r => r.Id));
    }

    [Fact]
    public void Notifications_held_for_a_gap_that_is_never_filled_are_bounded()
    {
        var feed = LoadedAt(10);

        // Revision 11 never arrives (and the grain cannot be asked for it): every later notification waits for it.
        for (var revision = 12L; revision < 5000; revision++)
            feed.OnConfigChanged(Delta(revision, revision + 1, Route($"r{revision}", revision + 1)));

        Assert.Equal(10, feed.Revision);
        Assert.InRange(feed.Held, 1, 1024);
    }
}
