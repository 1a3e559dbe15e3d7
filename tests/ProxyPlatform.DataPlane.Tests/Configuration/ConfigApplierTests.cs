using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Tests.Infrastructure;
using ProxyPlatform.Protos.DataPlane;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.Resources;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Tests.Configuration;

/// <summary>The applier with the worker's real compiler, from the worker's own service registrations.</summary>
public sealed class ConfigApplierTests : IDisposable
{
    private readonly TempDirectory _dataDir = new();
    private readonly List<WorkerConfiguration> _workers = [];

    private ConfigApplier Create(long? maxRequestBodyBytes = null)
    {
        var worker = new WorkerConfiguration(_dataDir.Path, maxRequestBodyBytes);
        _workers.Add(worker);
        return worker.Applier;
    }

    public void Dispose()
    {
        foreach (var worker in _workers)
            worker.Dispose();
        _dataDir.Dispose();
    }

    [Fact]
    public async Task Valid_snapshot_is_applied_served_and_acknowledged()
    {
        var applier = Create();

        var result = await applier.ApplyAsync(AcmeSnapshot(revision: 3), TestContext.Current.CancellationToken);

        Assert.Equal(new ApplyResult(ApplyOutcome.Applied, 3), result);
        Assert.Equal(3, applier.AppliedRevision);
        var runtime = applier.Runtime!;
        Assert.Equal(3, runtime.Revision);
        Assert.Equal("acme/api", Assert.Single(runtime.RouteIndex).Value.Name);
        Assert.Equal(1, runtime.Routes.Count);
        Assert.Equal("acme/web", Assert.Single(runtime.Clusters).Value.Name);
    }

    [Fact]
    public async Task Unchanged_route_is_still_checked_against_a_delta_that_removes_its_cluster()
    {
        var applier = Create();
        await applier.ApplyAsync(AcmeSnapshot(revision: 1), TestContext.Current.CancellationToken);

        // Only the cluster changes; the route that uses it was validated before and is not re-sent.
        var result = await applier.ApplyAsync(Delta(1, 2, [], [Key(ResourceType.Cluster, "acme", "web")]), TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Rejected, result.Outcome);
        Assert.Contains("route acme/api: cluster: 'web'", result.Reason, StringComparison.Ordinal);
        Assert.Equal(1, applier.AppliedRevision);
        Assert.Equal("acme/web", Assert.Single(applier.Runtime!.Clusters).Value.Name);
    }

    [Fact]
    public async Task Host_names_of_a_changed_tenant_reach_its_unchanged_routes()
    {
        var applier = Create();
        await applier.ApplyAsync(AcmeSnapshot(revision: 1), TestContext.Current.CancellationToken);

        var result = await applier.ApplyAsync(Delta(1, 2, [Tenant("acme", new TenantSpec { Hostnames = ["acme.example"] }, 2)]), TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Applied, result.Outcome);
        Assert.Equal(["acme.example"], Assert.Single(applier.Runtime!.RouteIndex).Value.Hosts);
    }

    [Fact]
    public void Before_any_configuration_nothing_is_served()
    {
        var applier = Create();

        Assert.Null(applier.Current);
        Assert.Null(applier.Runtime);
        Assert.Equal(0, applier.AppliedRevision);
    }

    [Fact]
    public async Task Removing_a_route_takes_it_out_of_the_routing_table_and_leaves_the_previous_table_untouched()
    {
        var applier = Create();
        await applier.ApplyAsync(AcmeSnapshot(revision: 1), TestContext.Current.CancellationToken);
        var first = applier.Runtime!;

        await applier.ApplyAsync(Delta(1, 2, [], [Key(ResourceType.Route, "acme", "api")]), TestContext.Current.CancellationToken);

        Assert.Equal(1, first.Routes.Count);
        Assert.Equal(0, applier.Runtime!.Routes.Count);
        Assert.Empty(applier.Runtime.RouteIndex);
        Assert.Single(applier.Runtime.Clusters);
    }

    [Fact]
    public async Task Route_to_a_cluster_its_tenant_lacks_is_nacked_by_name_and_the_old_configuration_keeps_serving()
    {
        var applier = Create();
        await applier.ApplyAsync(AcmeSnapshot(revision: 1), TestContext.Current.CancellationToken);
        var served = applier.Runtime;

        var result = await applier.ApplyAsync(Delta(1, 2, [Route("acme", "orphan", new RouteSpec { Cluster = "missing" }, 2)]), TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Rejected, result.Outcome);
        Assert.Equal(2, result.Revision);
        Assert.Equal("route acme/orphan: cluster: 'missing' is not a cluster of tenant 'acme'.", result.Reason);
        Assert.Equal(1, applier.AppliedRevision);
        Assert.False(applier.Current!.Routes.ContainsKey(ResourceKey.OfRoute("acme", "orphan")));
        Assert.Same(served, applier.Runtime);
    }

    [Fact]
    public async Task Spec_the_shared_validator_rejects_is_nacked_naming_the_resource_and_field()
    {
        var applier = Create();

        var result = await applier.ApplyAsync(Snapshot(1,
            Tenant("acme", new TenantSpec()),
            Cluster("acme", "web", new ClusterDefinition { Backends = new Dictionary<string, BackendSpec> { ["a"] = new() { Address = "localhost:9003" } } })),
            TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Rejected, result.Outcome);
        Assert.StartsWith("cluster acme/web: backends.a.address: 'localhost:9003' is not a backend address", result.Reason, StringComparison.Ordinal);
        Assert.Null(applier.Current);
    }

    [Fact]
    public async Task Route_matching_a_non_standard_method_is_served()
    {
        var applier = Create();
        var update = AcmeSnapshot(revision: 1);
        // The shared validator accepts any upper-case method token, and so does the worker's routing table.
        update.Upserts.Add(Route("acme", "purge", new RouteSpec { Match = new RouteMatchSpec { Methods = ["PURGE"] }, Cluster = "web" }));

        var result = await applier.ApplyAsync(update, TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Applied, result.Outcome);
        Assert.Equal(["PURGE"], applier.Runtime!.RouteIndex[ResourceKey.OfRoute("acme", "purge")].Methods);
    }

    [Fact]
    public async Task Spec_that_is_not_json_of_its_kind_is_nacked_by_name()
    {
        var applier = Create();
        var update = AcmeSnapshot(revision: 1);
        update.Upserts.Add(Json(ResourceType.Cluster, "acme", "bad", "{not json"));

        var result = await applier.ApplyAsync(update, TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Rejected, result.Outcome);
        Assert.StartsWith("cluster acme/bad: the spec is not valid JSON for a cluster", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Route_asking_for_larger_bodies_than_the_worker_allows_is_nacked()
    {
        var applier = Create(maxRequestBodyBytes: 1024);
        var update = AcmeSnapshot(revision: 1);
        update.Upserts.Add(Route("acme", "upload", new RouteSpec { Cluster = "web", MaxRequestBodyBytes = 4096 }));

        var result = await applier.ApplyAsync(update, TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Rejected, result.Outcome);
        Assert.StartsWith("route acme/upload: maxRequestBodyBytes: 4096 is more than this worker allows (1024", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delta_from_a_revision_the_worker_does_not_serve_is_out_of_sequence_and_changes_nothing()
    {
        var applier = Create();
        await applier.ApplyAsync(AcmeSnapshot(revision: 5), TestContext.Current.CancellationToken);
        var served = applier.Runtime;

        var result = await applier.ApplyAsync(Delta(3, 6, [], [Key(ResourceType.Route, "acme", "api")]), TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.OutOfSequence, result.Outcome);
        Assert.Equal(5, applier.AppliedRevision);
        Assert.Same(served, applier.Runtime);
    }

    [Fact]
    public async Task Delta_before_any_snapshot_is_out_of_sequence()
    {
        var applier = Create();

        var result = await applier.ApplyAsync(Delta(4, 5, []), TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.OutOfSequence, result.Outcome);
        Assert.Null(applier.Current);
    }

    [Fact]
    public async Task Applied_configuration_is_saved_and_a_new_worker_restores_it_from_last_known_good()
    {
        var first = Create();
        await first.ApplyAsync(AcmeSnapshot(revision: 7), TestContext.Current.CancellationToken);
        await first.ApplyAsync(Delta(7, 8, [Route("acme", "web", new RouteSpec { Cluster = "web", PreserveHost = true }, 8)]), TestContext.Current.CancellationToken);
        await first.WhenSavedAsync();
        Assert.True(File.Exists(Path.Combine(_dataDir.Path, LastKnownGood.FileName)));
        Assert.Empty(Directory.GetFiles(_dataDir.Path, "*.tmp"));

        var restarted = Create();
        Assert.True(await restarted.RestoreLastKnownGoodAsync(TestContext.Current.CancellationToken));

        Assert.Equal(8, restarted.AppliedRevision);
        Assert.Equal(["acme.test"], restarted.Current!.Tenants[ResourceKey.OfTenant("acme")].Spec.Hostnames);
        Assert.Equal("http://127.0.0.1:9", restarted.Current.Clusters[ResourceKey.OfCluster("acme", "web")].Spec.Backends["a"].Address);
        Assert.Equal(7, restarted.Current.Routes[ResourceKey.OfRoute("acme", "api")].Revision);
        Assert.True(restarted.Current.Routes[ResourceKey.OfRoute("acme", "web")].Spec.PreserveHost);
        Assert.Equal(["acme/api", "acme/web"], restarted.Runtime!.RouteIndex.Values.Select(r => r.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Changes_after_the_snapshot_are_appended_to_the_file_and_restored_and_a_torn_record_is_ignored()
    {
        var first = Create();
        await first.ApplyAsync(AcmeSnapshot(revision: 1), TestContext.Current.CancellationToken);
        await first.WhenSavedAsync();
        var file = Path.Combine(_dataDir.Path, LastKnownGood.FileName);
        var savedFile = await File.ReadAllBytesAsync(file, TestContext.Current.CancellationToken);
        for (var revision = 2; revision <= 4; revision++)
        {
            await first.ApplyAsync(Delta(revision - 1, revision, [Route("acme", $"r{revision}", new RouteSpec { Cluster = "web" }, revision)]), TestContext.Current.CancellationToken);
            await first.WhenSavedAsync();
        }
        await first.ApplyAsync(Delta(4, 5, [], [Key(ResourceType.Route, "acme", "r2")]), TestContext.Current.CancellationToken);
        await first.WhenSavedAsync();

        // A change costs an append to the file, not a rewrite of the whole configuration.
        var grown = await File.ReadAllBytesAsync(file, TestContext.Current.CancellationToken);
        Assert.True(grown.Length > savedFile.Length);
        Assert.Equal(savedFile, grown[..savedFile.Length]);
        Assert.False(File.Exists(Path.Combine(_dataDir.Path, LastKnownGood.PreviousFileName)));
        await File.AppendAllTextAsync(file, "\u0010\0\0\0torn", TestContext.Current.CancellationToken);

        var restarted = Create();
        Assert.True(await restarted.RestoreLastKnownGoodAsync(TestContext.Current.CancellationToken));
        Assert.Equal(5, restarted.AppliedRevision);
        Assert.Equal(["acme/api", "acme/r3", "acme/r4"], restarted.Runtime!.RouteIndex.Values.Select(r => r.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Rejected_configuration_is_not_saved()
    {
        var applier = Create();
        await applier.ApplyAsync(AcmeSnapshot(revision: 1), TestContext.Current.CancellationToken);
        await applier.ApplyAsync(Delta(1, 2, [Route("acme", "orphan", new RouteSpec { Cluster = "missing" }, 2)]), TestContext.Current.CancellationToken);
        await applier.WhenSavedAsync();

        var restarted = Create();
        await restarted.RestoreLastKnownGoodAsync(TestContext.Current.CancellationToken);

        Assert.Equal(1, restarted.AppliedRevision);
    }

    [Fact]
    public async Task Unreadable_last_known_good_file_is_ignored_and_the_worker_starts_empty()
    {
        await File.WriteAllTextAsync(Path.Combine(_dataDir.Path, LastKnownGood.FileName), "{\"revision\": 3", TestContext.Current.CancellationToken);
        var applier = Create();

        Assert.False(await applier.RestoreLastKnownGoodAsync(TestContext.Current.CancellationToken));
        Assert.Null(applier.Current);
    }

    [Theory]
    [InlineData("/a*b")]
    [InlineData("/v1;x=y")]
    [InlineData("/@user:name")]
    [InlineData("/a%20b")]
    [InlineData("/it's(1)+$!,~")]
    public async Task Any_path_prefix_the_shared_validator_accepts_is_served(string prefix)
    {
        var applier = Create();
        var update = AcmeSnapshot(revision: 1);
        update.Upserts.Add(Route("acme", "odd", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = prefix }, Cluster = "web", StripPrefix = true }));

        var result = await applier.ApplyAsync(update, TestContext.Current.CancellationToken);

        Assert.True(result.Outcome == ApplyOutcome.Applied, result.Reason);
    }
}
