using ProxyPlatform.Resources;
using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.ConfigStream;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Tests.Infrastructure;
using ProxyPlatform.Protos.DataPlane;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.Resources;

namespace ProxyPlatform.DataPlane.Tests.ConfigStream;

/// <summary>The coalescer in front of a real applier, on a clock the test moves.</summary>
public sealed class UpdateCoalescerTests : IDisposable
{
    private readonly TempDirectory _dataDir = new();
    private readonly WorkerConfiguration _worker;
    private readonly FakeTimeProvider _time = new();
    private readonly Channel<ConfigUpdate> _queue = Channel.CreateUnbounded<ConfigUpdate>();
    /// <summary>What the coalescer handed to the applier, in order.</summary>
    private readonly List<ConfigUpdate> _applies = [];
    private readonly UpdateCoalescer _coalescer;
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public UpdateCoalescerTests()
    {
        _worker = new WorkerConfiguration(_dataDir.Path);
        _coalescer = new UpdateCoalescer((update, ct) =>
        {
            _applies.Add(update);
            return _worker.Applier.ApplyAsync(update, ct);
        }, _time);
    }

    public void Dispose()
    {
        _worker.Dispose();
        _dataDir.Dispose();
    }

    [Fact]
    public async Task Everything_queued_is_applied_as_one_merged_update()
    {
        Queue(AcmeSnapshot(revision: 1), RouteAdded(1, 2), BackendChanged(2, 3), RouteAdded(3, 4));

        var result = await _coalescer.ApplyNextAsync(_queue.Reader, Cancel);

        Assert.Equal(new ApplyResult(ApplyOutcome.Applied, 4), result);
        var applied = Assert.Single(_applies);
        Assert.Equal((0L, 4L), (applied.BaseRevision, applied.Revision));
        Assert.Equal(["acme/api", "acme/r2", "acme/r4"], RouteNames());
    }

    [Fact]
    public async Task Merged_update_with_a_resource_the_worker_rejects_is_applied_as_one_without_that_resource()
    {
        Queue(AcmeSnapshot(revision: 1));
        await _coalescer.ApplyNextAsync(_queue.Reader, Cancel);
        _time.Advance(UpdateCoalescer.RouteSpacing);
        _applies.Clear();

        Queue(RouteAdded(1, 2), Delta(2, 3, [Route("acme", "orphan", new RouteSpec { Cluster = "missing" }, 3)]), RouteAdded(3, 4));
        var result = await _coalescer.ApplyNextAsync(_queue.Reader, Cancel);

        Assert.Equal(new ApplyResult(ApplyOutcome.Applied, 4), result);
        Assert.Equal([(1L, 4L)], _applies.Select(u => (u.BaseRevision, u.Revision)));
        Assert.Equal(4, _worker.Applier.AppliedRevision);
        Assert.Equal([ResourceKey.OfRoute("acme", "orphan")], _worker.Applier.RejectedResources.Keys);
    }

    [Fact]
    public async Task Updates_that_are_not_a_chain_are_applied_one_by_one()
    {
        Queue(AcmeSnapshot(revision: 1), RouteAdded(1, 2), RouteAdded(7, 8));

        var result = await _coalescer.ApplyNextAsync(_queue.Reader, Cancel);

        Assert.Equal(ApplyOutcome.OutOfSequence, result!.Outcome);
        Assert.Equal([(0L, 1L), (1L, 2L), (7L, 8L)], _applies.Select(u => (u.BaseRevision, u.Revision)));
        Assert.Equal(2, _worker.Applier.AppliedRevision);
    }

    [Fact]
    public async Task Route_change_soon_after_another_waits_out_the_spacing_and_takes_in_what_arrives_meanwhile()
    {
        // The first change of routing is not delayed: the clock never moves until it has been applied.
        Queue(AcmeSnapshot(revision: 1));
        Assert.Equal(1, (await _coalescer.ApplyNextAsync(_queue.Reader, Cancel))!.Revision);

        Queue(RouteAdded(1, 2));
        var next = _coalescer.ApplyNextAsync(_queue.Reader, Cancel);
        Queue(RouteAdded(2, 3));
        _time.Advance(UpdateCoalescer.RouteSpacing - TimeSpan.FromMilliseconds(1));
        Assert.False(next.IsCompleted);
        Assert.Equal(1, _worker.Applier.AppliedRevision);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(new ApplyResult(ApplyOutcome.Applied, 3), await next.WaitAsync(TimeSpan.FromSeconds(30), Cancel));
        Assert.Equal([(0L, 1L), (1L, 3L)], _applies.Select(u => (u.BaseRevision, u.Revision)));
    }

    [Fact]
    public async Task Change_that_leaves_routing_alone_is_not_delayed_by_a_recent_route_change()
    {
        Queue(AcmeSnapshot(revision: 1));
        await _coalescer.ApplyNextAsync(_queue.Reader, Cancel);

        Queue(BackendChanged(1, 2));
        var result = await _coalescer.ApplyNextAsync(_queue.Reader, Cancel).WaitAsync(TimeSpan.FromSeconds(30), Cancel);

        Assert.Equal(new ApplyResult(ApplyOutcome.Applied, 2), result);
        Assert.Equal(2, _applies.Count);
    }

    [Fact]
    public async Task Completed_queue_ends_the_applies_once_what_it_holds_is_applied()
    {
        Queue(AcmeSnapshot(revision: 1));
        _queue.Writer.Complete();

        Assert.Equal(1, (await _coalescer.ApplyNextAsync(_queue.Reader, Cancel))!.Revision);
        Assert.Null(await _coalescer.ApplyNextAsync(_queue.Reader, Cancel));
    }

    private void Queue(params ConfigUpdate[] updates)
    {
        foreach (var update in updates)
            Assert.True(_queue.Writer.TryWrite(update));
    }

    private static ConfigUpdate BackendChanged(long baseRevision, long revision) =>
        Delta(baseRevision, revision, [Cluster("acme", "web", new ClusterDefinition { Backends = new Dictionary<string, BackendSpec> { ["a"] = new() { Address = $"http://127.0.0.1:{9000 + revision}" } } }, revision)]);

    private string[] RouteNames() =>
        [.. _worker.Applier.Runtime!.RouteIndex.Values.Select(r => r.Name).Order(StringComparer.Ordinal)];
}
