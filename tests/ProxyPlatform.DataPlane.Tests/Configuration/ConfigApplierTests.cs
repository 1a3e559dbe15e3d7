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
    public async Task A_cluster_an_unchanged_route_still_sends_to_is_not_removed_and_the_removal_is_reported()
    {
        var applier = Create();
        await applier.ApplyAsync(AcmeSnapshot(revision: 1), TestContext.Current.CancellationToken);

        // Only the cluster changes; the route that uses it was validated before and is not re-sent.
        var result = await applier.ApplyAsync(Delta(1, 2, [], [Key(ResourceType.Cluster, "acme", "web")]), TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Applied, result.Outcome);
        Assert.Equal(2, applier.AppliedRevision);
        Assert.Equal("acme/web", Assert.Single(applier.Runtime!.Clusters).Value.Name);
        Assert.NotNull(applier.Runtime.RouteIndex[ResourceKey.OfRoute("acme", "api")].Cluster.Current);
        Assert.Contains("route acme/api", applier.RejectedResources[ResourceKey.OfCluster("acme", "web")].Reason, StringComparison.Ordinal);
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
    public async Task Route_to_a_cluster_its_tenant_lacks_is_rejected_alone_by_name_and_the_rest_of_the_update_applies()
    {
        var applier = Create();
        await applier.ApplyAsync(AcmeSnapshot(revision: 1), TestContext.Current.CancellationToken);

        var result = await applier.ApplyAsync(Delta(1, 2, [
            Route("acme", "orphan", new RouteSpec { Cluster = "missing" }, 2),
            Route("acme", "fine", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = "/fine" }, Cluster = "web" }, 2)]), TestContext.Current.CancellationToken);

        Assert.Equal(new ApplyResult(ApplyOutcome.Applied, 2), result);
        Assert.Equal(2, applier.AppliedRevision);
        var rejection = Assert.Single(applier.RejectedResources).Value;
        Assert.Equal(new ResourceRejection(ResourceKey.OfRoute("acme", "orphan"), 2, "route acme/orphan: cluster: 'missing' is not a cluster of tenant 'acme'."), rejection);
        Assert.False(applier.Current!.Routes.ContainsKey(ResourceKey.OfRoute("acme", "orphan")));
        Assert.False(applier.Runtime!.RouteIndex.ContainsKey(ResourceKey.OfRoute("acme", "orphan")));
        Assert.True(applier.Runtime.RouteIndex.ContainsKey(ResourceKey.OfRoute("acme", "fine")));
    }

    [Fact]
    public async Task Spec_the_shared_validator_rejects_is_rejected_naming_the_resource_and_field()
    {
        var applier = Create();

        var result = await applier.ApplyAsync(Snapshot(1,
            Tenant("acme", new TenantSpec { Hostnames = ["acme.test"] }),
            Cluster("acme", "web", new ClusterDefinition { Backends = new Dictionary<string, BackendSpec> { ["a"] = new() { Address = "localhost:9003" } } })),
            TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Applied, result.Outcome);
        Assert.StartsWith("cluster acme/web: backends.a.address: 'localhost:9003' is not a backend address",
            applier.RejectedResources[ResourceKey.OfCluster("acme", "web")].Reason, StringComparison.Ordinal);
        Assert.True(applier.Current!.Tenants.ContainsKey(ResourceKey.OfTenant("acme")));
        Assert.Equal(0, applier.Current.Clusters.Count);
    }

    [Fact]
    public async Task A_rejected_change_keeps_the_last_good_version_serving_until_a_good_one_replaces_it()
    {
        var applier = Create(maxRequestBodyBytes: 1024);
        await applier.ApplyAsync(AcmeSnapshot(revision: 1), TestContext.Current.CancellationToken);
        var api = ResourceKey.OfRoute("acme", "api");

        await applier.ApplyAsync(Delta(1, 2, [Route("acme", "api", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = "/v2" }, Cluster = "web", MaxRequestBodyBytes = 4096 }, 2)]), TestContext.Current.CancellationToken);

        Assert.Equal(2, applier.AppliedRevision);
        Assert.Equal("/api", applier.Runtime!.RouteIndex[api].Prefix);
        Assert.Equal(1, applier.Current!.Routes[api].Revision);
        Assert.Equal(2, applier.RejectedResources[api].Revision);

        // A later delta that does not carry the route leaves its rejection standing.
        await applier.ApplyAsync(RouteAdded(2, 3), TestContext.Current.CancellationToken);
        Assert.True(applier.RejectedResources.ContainsKey(api));

        await applier.ApplyAsync(Delta(3, 4, [Route("acme", "api", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = "/v2" }, Cluster = "web", MaxRequestBodyBytes = 512 }, 4)]), TestContext.Current.CancellationToken);
        Assert.Equal("/v2", applier.Runtime!.RouteIndex[api].Prefix);
        Assert.Empty(applier.RejectedResources);
    }

    [Fact]
    public async Task An_exception_compiling_one_tenants_routes_affects_that_tenant_alone()
    {
        var applier = Create();
        _workers[^1].Compiler.RouteCompiling = id => _ = id.Id == "odd" ? throw new InvalidOperationException("boom") : 0;
        var update = AcmeSnapshot(revision: 1);
        update.Upserts.Add(Tenant("beta", new TenantSpec { Hostnames = ["beta.test"] }));
        update.Upserts.Add(Cluster("beta", "web", new ClusterDefinition { Backends = new Dictionary<string, BackendSpec> { ["a"] = new() { Address = "http://127.0.0.1:9" } } }));
        update.Upserts.Add(Route("beta", "ok", new RouteSpec { Cluster = "web" }));
        update.Upserts.Add(Route("beta", "odd", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = "/odd" }, Cluster = "web" }));

        var result = await applier.ApplyAsync(update, TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Applied, result.Outcome);
        Assert.True(applier.Runtime!.RouteIndex.ContainsKey(ResourceKey.OfRoute("acme", "api")));
        Assert.False(applier.Runtime.RouteIndex.ContainsKey(ResourceKey.OfRoute("beta", "ok")));
        Assert.Equal([ResourceKey.OfRoute("beta", "odd"), ResourceKey.OfRoute("beta", "ok")], applier.RejectedResources.Keys.Order(Comparer<ResourceKey>.Create((a, b) => string.CompareOrdinal(a.Id, b.Id))));
        Assert.Contains("could not be compiled", applier.RejectedResources[ResourceKey.OfRoute("beta", "ok")].Reason, StringComparison.Ordinal);

        // Later, the failing tenant's removals wait with its other changes; the other tenant's go ahead.
        await applier.ApplyAsync(Delta(1, 2, [Route("beta", "ok", new RouteSpec { Cluster = "web" }, 2)]), TestContext.Current.CancellationToken);
        _workers[^1].Compiler.RouteCompiling = id => _ = id.Tenant == "beta" && id.Id == "ok" ? throw new InvalidOperationException("boom") : 0;
        await applier.ApplyAsync(Delta(2, 3, [], [Key(ResourceType.Route, "beta", "ok"), Key(ResourceType.Route, "acme", "api")]), TestContext.Current.CancellationToken);
        Assert.True(applier.Current!.Routes.ContainsKey(ResourceKey.OfRoute("beta", "ok")));
        Assert.True(applier.Runtime!.RouteIndex.ContainsKey(ResourceKey.OfRoute("beta", "ok")));
        Assert.False(applier.Runtime.RouteIndex.ContainsKey(ResourceKey.OfRoute("acme", "api")));
        Assert.Equal(3, applier.RejectedResources[ResourceKey.OfRoute("beta", "ok")].Revision);
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
    public async Task Routes_and_clusters_beyond_the_pools_limits_are_rejected_alone_and_connections_are_held_to_its_networks()
    {
        var applier = Create();
        var update = AcmeSnapshot(revision: 1, backend: "http://10.1.2.3:8080");
        update.Upserts.Add(Pool(new PoolSpec { Limits = new PoolLimits { MaxRequestBodyBytes = 1000, AllowedBackendNetworks = ["10.0.0.0/8"] } }));
        update.Upserts.Add(Cluster("acme", "inside", new ClusterDefinition { Backends = new Dictionary<string, BackendSpec> { ["a"] = new() { Address = "http://127.0.0.1:9" } } }));
        update.Upserts.Add(Route("acme", "upload", new RouteSpec { Cluster = "web", MaxRequestBodyBytes = 5000 }));
        update.Upserts.Add(Route("acme", "small", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = "/small" }, Cluster = "web", MaxRequestBodyBytes = 500 }));

        var result = await applier.ApplyAsync(update, TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Applied, result.Outcome);
        Assert.Equal([ResourceKey.OfCluster("acme", "inside"), ResourceKey.OfRoute("acme", "upload")], applier.RejectedResources.Keys.OrderBy(k => k.Kind));
        Assert.Contains("backends.a.address", applier.RejectedResources[ResourceKey.OfCluster("acme", "inside")].Reason, StringComparison.Ordinal);
        Assert.Contains("more than the pool allows (1000)", applier.RejectedResources[ResourceKey.OfRoute("acme", "upload")].Reason, StringComparison.Ordinal);
        Assert.Equal(["acme/api", "acme/small"], applier.Runtime!.RouteIndex.Values.Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.Equal(["10.0.0.0/8"], _workers[^1].Connector.AllowedNetworks);
    }

    [Fact]
    public async Task New_pool_limits_judge_the_routes_already_served_which_keep_serving_and_are_reported()
    {
        var applier = Create();
        var update = AcmeSnapshot(revision: 1);
        update.Upserts.Add(Route("acme", "upload", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = "/upload" }, Cluster = "web", MaxRequestBodyBytes = 5000 }));
        await applier.ApplyAsync(update, TestContext.Current.CancellationToken);
        Assert.Empty(applier.RejectedResources);
        Assert.Null(_workers[^1].Connector.AllowedNetworks);

        await applier.ApplyAsync(Delta(1, 2, [Pool(new PoolSpec { Limits = new PoolLimits { MaxRequestBodyBytes = 1000 } }, 2)]), TestContext.Current.CancellationToken);

        Assert.Equal(1, applier.RejectedResources[ResourceKey.OfRoute("acme", "upload")].Revision);
        Assert.True(applier.Runtime!.RouteIndex.ContainsKey(ResourceKey.OfRoute("acme", "upload")));
        Assert.Equal(1000, applier.Current!.Pools[ResourceKey.OfPool("default")].Spec.Limits!.MaxRequestBodyBytes);
    }

    [Fact]
    public async Task Spec_that_is_not_json_of_its_kind_is_rejected_by_name()
    {
        var applier = Create();
        var update = AcmeSnapshot(revision: 1);
        update.Upserts.Add(Json(ResourceType.Cluster, "acme", "bad", "{not json"));

        var result = await applier.ApplyAsync(update, TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Applied, result.Outcome);
        Assert.StartsWith("cluster acme/bad: the spec is not valid JSON for a cluster", applier.RejectedResources[ResourceKey.OfCluster("acme", "bad")].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Route_asking_for_larger_bodies_than_the_worker_allows_is_rejected_alone()
    {
        var applier = Create(maxRequestBodyBytes: 1024);
        var update = AcmeSnapshot(revision: 1);
        update.Upserts.Add(Route("acme", "upload", new RouteSpec { Cluster = "web", MaxRequestBodyBytes = 4096 }));

        var result = await applier.ApplyAsync(update, TestContext.Current.CancellationToken);

        Assert.Equal(ApplyOutcome.Applied, result.Outcome);
        Assert.StartsWith("route acme/upload: maxRequestBodyBytes: 4096 is more than this worker allows (1024",
            applier.RejectedResources[ResourceKey.OfRoute("acme", "upload")].Reason, StringComparison.Ordinal);
        Assert.Equal(["acme/api"], applier.Runtime!.RouteIndex.Values.Select(r => r.Name));
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
    public async Task A_rejected_resource_is_not_saved_the_rest_is_and_a_restart_still_reports_it()
    {
        var applier = Create();
        await applier.ApplyAsync(AcmeSnapshot(revision: 1), TestContext.Current.CancellationToken);
        await applier.ApplyAsync(Delta(1, 2, [
            Route("acme", "api", new RouteSpec { Cluster = "missing" }, 2),
            Route("acme", "orphan", new RouteSpec { Cluster = "missing" }, 2),
            Route("acme", "fine", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = "/fine" }, Cluster = "web" }, 2)]), TestContext.Current.CancellationToken);
        await applier.WhenSavedAsync();

        var restarted = Create();
        await restarted.RestoreLastKnownGoodAsync(TestContext.Current.CancellationToken);

        Assert.Equal(2, restarted.AppliedRevision);
        Assert.Equal(["acme/api", "acme/fine"], restarted.Runtime!.RouteIndex.Values.Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.Equal(1, restarted.Current!.Routes[ResourceKey.OfRoute("acme", "api")].Revision);
        Assert.Equal([ResourceKey.OfRoute("acme", "api"), ResourceKey.OfRoute("acme", "orphan")],
            restarted.RejectedResources.Keys.Order(Comparer<ResourceKey>.Create((a, b) => string.CompareOrdinal(a.Id, b.Id))));
    }

    [Fact]
    public async Task A_full_snapshot_with_a_rejected_change_saves_the_version_served_before()
    {
        var applier = Create(maxRequestBodyBytes: 1024);
        await applier.ApplyAsync(AcmeSnapshot(revision: 1), TestContext.Current.CancellationToken);
        var snapshot = AcmeSnapshot(revision: 2);
        snapshot.Upserts[2] = Route("acme", "api", new RouteSpec { Match = new RouteMatchSpec { PathPrefix = "/api" }, Cluster = "web", MaxRequestBodyBytes = 4096 }, 2);
        await applier.ApplyAsync(snapshot, TestContext.Current.CancellationToken);
        await applier.WhenSavedAsync();

        var restarted = Create(maxRequestBodyBytes: 1024);
        await restarted.RestoreLastKnownGoodAsync(TestContext.Current.CancellationToken);

        Assert.Equal(2, restarted.AppliedRevision);
        Assert.Equal(1, restarted.Current!.Routes[ResourceKey.OfRoute("acme", "api")].Revision);
        Assert.Equal(2, restarted.RejectedResources[ResourceKey.OfRoute("acme", "api")].Revision);
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
