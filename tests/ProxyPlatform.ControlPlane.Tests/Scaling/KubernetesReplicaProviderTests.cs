using System.Text.Json;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using ProxyPlatform.ControlPlane.Scaling.Kubernetes;

namespace ProxyPlatform.ControlPlane.Tests.Scaling;

/// <summary>
/// The Kubernetes provider against recorded answers of a real API server (see RecordedApiServer/README.md:
/// no API server runs here), asserting the requests it makes: verbs, paths, bodies and content types.
/// </summary>
public sealed class KubernetesReplicaProviderTests
{
    private const string Deployments = "/apis/apps/v1/namespaces/proxyplatform/deployments";
    private static readonly KubernetesScalingOptions Options = new() { Namespace = "proxyplatform" };

    private static KubernetesReplicaProvider Provider(RecordedApiServer server) =>
        new(new Kubernetes(new KubernetesClientConfiguration { Host = server.Url }), Options, NullLogger<KubernetesReplicaProvider>.Instance);

    private static string MediaType(RecordedRequest request) => request.ContentType?.Split(';')[0].Trim() ?? "";

    [Fact]
    public async Task An_existing_deployment_is_scaled_through_its_scale_subresource_with_a_merge_patch_against_recorded_api_server_answers()
    {
        await using var server = await RecordedApiServer.StartAsync(
            new("GET", $"{Deployments}/dataplane-default", 200, "deployment-default.json"),
            new("PATCH", $"{Deployments}/dataplane-default/scale", 200, "scale-default-3.json"));

        var seen = await Provider(server).EnsureAsync("default", 3, TestContext.Current.CancellationToken);

        var requests = server.Requests.ToArray();
        Assert.Equal([("GET", $"{Deployments}/dataplane-default"), ("PATCH", $"{Deployments}/dataplane-default/scale")], requests.Select(r => (r.Method, r.PathAndQuery)));
        var patch = requests[1];
        Assert.Equal("application/merge-patch+json", MediaType(patch));
        // Only the replica count: nothing of the pod template or the Deployment's other fields.
        Assert.Equal("""{"spec":{"replicas":3}}""", patch.Body);
        // What the Deployment's status said when it was read: one pod, ready.
        Assert.Equal((1, 1), (seen.Actual, seen.Ready));
        Assert.Equal(0, server.Unused);
    }

    [Fact]
    public async Task Ready_replicas_are_the_deployments_status_readyReplicas_and_nothing_is_patched_at_the_desired_count_against_recorded_api_server_answers()
    {
        await using var server = await RecordedApiServer.StartAsync(
            new("GET", $"{Deployments}/dataplane-default", 200, "deployment-default-scaling.json"),
            new("GET", $"{Deployments}/dataplane-default", 200, "deployment-default-scaling.json"));
        var provider = Provider(server);

        var ensured = await provider.EnsureAsync("default", 3, TestContext.Current.CancellationToken);
        var observed = await provider.ObserveAsync("default", TestContext.Current.CancellationToken);

        Assert.Equal((3, 2), (ensured.Actual, ensured.Ready));
        Assert.Equal((3, 2), (observed.Actual, observed.Ready));
        Assert.All(server.Requests, r => Assert.Equal(("GET", ""), (r.Method, r.Body)));
        Assert.Equal(0, server.Unused);
    }

    [Fact]
    public async Task A_pool_without_a_deployment_gets_one_created_from_the_template_against_recorded_api_server_answers()
    {
        await using var server = await RecordedApiServer.StartAsync(
            new("GET", $"{Deployments}/dataplane-blue", 404, "not-found-blue.json"),
            new("POST", Deployments, 201, "created-blue.json"));

        var seen = await Provider(server).EnsureAsync("blue", 2, TestContext.Current.CancellationToken);

        var requests = server.Requests.ToArray();
        Assert.Equal([("GET", $"{Deployments}/dataplane-blue"), ("POST", Deployments)], requests.Select(r => (r.Method, r.PathAndQuery)));
        Assert.Equal("application/json", MediaType(requests[1]));
        var created = KubernetesJson.Deserialize<V1Deployment>(requests[1].Body);
        Assert.Equal(("dataplane-blue", "proxyplatform", 2), (created.Metadata.Name, created.Metadata.NamespaceProperty, created.Spec.Replicas));
        Assert.Equal("blue", created.Spec.Template.Metadata.Labels[KubernetesDeployments.PoolLabel]);
        var env = created.Spec.Template.Spec.Containers.Single().Env;
        Assert.Equal("blue", env.Single(e => e.Name == "DataPlane__Pool").Value);
        Assert.Equal("proxyplatform-pool-blue", env.Single(e => e.Name == "DataPlane__Token").ValueFrom.SecretKeyRef.Name);
        // Created just now: no pod exists or is ready yet (the answer's status is empty).
        Assert.Equal((0, 0), (seen.Actual, seen.Ready));
        Assert.Equal(0, server.Unused);
    }

    [Fact]
    public async Task A_deployment_created_meanwhile_by_someone_else_is_read_and_used_against_recorded_api_server_answers()
    {
        await using var server = await RecordedApiServer.StartAsync(
            new("GET", $"{Deployments}/dataplane-blue", 404, "not-found-blue.json"),
            new("POST", Deployments, 409, "already-exists-blue.json"),
            new("GET", $"{Deployments}/dataplane-blue", 200, "created-blue.json"));

        var seen = await Provider(server).EnsureAsync("blue", 2, TestContext.Current.CancellationToken);

        // It already has the 2 replicas asked for: no patch.
        Assert.Equal(["GET", "POST", "GET"], server.Requests.Select(r => r.Method));
        Assert.Equal((0, 0), (seen.Actual, seen.Ready));
        Assert.Equal(0, server.Unused);
    }

    [Fact]
    public async Task A_refusing_api_server_is_reported_not_thrown_so_that_the_next_reconcile_tries_again_against_recorded_api_server_answers()
    {
        await using var server = await RecordedApiServer.StartAsync(
            new("GET", $"{Deployments}/dataplane-blue", 403, "forbidden-blue.json"),
            new("GET", $"{Deployments}/dataplane-default", 200, "deployment-default.json"));
        var provider = Provider(server);

        var refused = await provider.EnsureAsync("blue", 2, TestContext.Current.CancellationToken);
        Assert.Equal((0, 0), (refused.Actual, refused.Ready));
        // Nothing was created after the refusal, and the provider still works.
        var observed = await provider.ObserveAsync("default", TestContext.Current.CancellationToken);
        Assert.Equal((1, 1), (observed.Actual, observed.Ready));
        Assert.Equal(["GET", "GET"], server.Requests.Select(r => r.Method));
    }

    [Fact]
    public void The_deployment_the_provider_creates_for_default_is_the_one_in_infra_k8s()
    {
        var manifest = KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(KubernetesManifestTests.RepositoryRoot(), "infra", "k8s", "pool-default.yaml")), typeMap: null, strict: true)
            .OfType<V1Deployment>().Single();
        var built = KubernetesDeployments.ForPool("default", manifest.Spec.Replicas ?? 0, Options with { Namespace = "proxyplatform" });
        Assert.Equal(Normalized(manifest), Normalized(built));

        static string Normalized(V1Deployment deployment) => JsonSerializer.Serialize(JsonDocument.Parse(KubernetesJson.Serialize(deployment)).RootElement, new JsonSerializerOptions { WriteIndented = true });
    }
}
