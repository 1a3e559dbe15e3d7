using k8s;
using k8s.Models;

namespace ProxyPlatform.ControlPlane.Tests.Scaling;

/// <summary>
/// infra/k8s, read as Kubernetes would: every document must deserialise strictly (an unknown or
/// misspelt field fails) into KubernetesClient's typed models, and the control plane's rights are
/// exactly what its scaling provider needs.
/// </summary>
public sealed class KubernetesManifestTests
{
    /// <summary>The folder holding ProxyPlatform.sln, above the tests' output folder.</summary>
    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ProxyPlatform.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("The repository root (ProxyPlatform.sln) was not found above the test's folder.");
    }

    private const string Namespace = "proxyplatform";

    private static readonly string ManifestDirectory = Path.Combine(RepositoryRoot(), "infra", "k8s");

    private static List<object> Load(string file) =>
        KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(ManifestDirectory, file)), typeMap: null, strict: true);

    private static List<object> All() => [.. Directory.GetFiles(ManifestDirectory, "*.yaml").Order().SelectMany(f => Load(Path.GetFileName(f)))];

    private static T Single<T>(string name) where T : IKubernetesObject<V1ObjectMeta> =>
        All().OfType<T>().Single(o => o.Metadata.Name == name);

    [Fact]
    public void Every_manifest_deserialises_strictly_into_KubernetesClient_models()
    {
        var files = Directory.GetFiles(ManifestDirectory, "*.yaml");
        Assert.Equal(["pool-default.yaml", "proxyplatform.yaml", "rbac.yaml", "secrets.yaml"], files.Select(Path.GetFileName).Order());
        foreach (var file in files)
        {
            var objects = Load(Path.GetFileName(file));
            Assert.NotEmpty(objects);
            // Each document became its own typed model (V1Deployment, V1Role, ...), not a loose map.
            Assert.All(objects, o => Assert.StartsWith("k8s.Models.V", o.GetType().FullName, StringComparison.Ordinal));
        }
        // Everything but the namespace itself lives in the namespace, so that the Role's rights stop there.
        foreach (var meta in All().OfType<IMetadata<V1ObjectMeta>>().Where(o => o is not V1Namespace))
            Assert.Equal(Namespace, meta.Metadata.NamespaceProperty);
    }

    [Fact]
    public void A_misspelt_field_fails_the_strict_reading()
    {
        const string Misspelt = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: { name: dataplane-default }
            spec:
              replica: 2
            """;
        Assert.ThrowsAny<Exception>(() => KubernetesYaml.LoadAllFromString(Misspelt, typeMap: null, strict: true));
        // The same document without strictness loads: the test above is what catches it.
        Assert.Single(KubernetesYaml.LoadAllFromString(Misspelt, typeMap: null, strict: false));
    }

    [Fact]
    public void The_control_plane_may_only_get_create_patch_deployments_and_get_patch_their_scale_in_its_namespace()
    {
        var role = Assert.Single(All().OfType<V1Role>());
        Assert.Equal(Namespace, role.Metadata.NamespaceProperty);
        Assert.Equal(
            [("apps", "deployments", "create,get,patch"), ("apps", "deployments/scale", "get,patch")],
            role.Rules.Select(r => (string.Join(",", r.ApiGroups), string.Join(",", r.Resources), string.Join(",", r.Verbs.Order()))));
        // Not narrowed to names the provider cannot know in advance, and no non-resource URLs.
        Assert.All(role.Rules, r => Assert.True(r.ResourceNames is null && r.NonResourceURLs is null));
        // No ClusterRole anywhere: the rights end at the namespace.
        Assert.Empty(All().OfType<V1ClusterRole>());
        Assert.Empty(All().OfType<V1ClusterRoleBinding>());

        var binding = Assert.Single(All().OfType<V1RoleBinding>());
        Assert.Equal(("rbac.authorization.k8s.io", "Role", role.Metadata.Name), (binding.RoleRef.ApiGroup, binding.RoleRef.Kind, binding.RoleRef.Name));
        var subject = Assert.Single(binding.Subjects);
        var account = Assert.Single(All().OfType<V1ServiceAccount>());
        Assert.Equal(("ServiceAccount", account.Metadata.Name, Namespace), (subject.Kind, subject.Name, subject.NamespaceProperty));

        // The control plane runs as that account, with the Kubernetes provider in its own namespace.
        var controlPlane = Single<V1StatefulSet>("controlplane").Spec.Template.Spec;
        Assert.Equal(account.Metadata.Name, controlPlane.ServiceAccountName);
        var env = Assert.Single(controlPlane.Containers).Env;
        Assert.Equal("Kubernetes", env.Single(e => e.Name == "Scaling__Provider").Value);
        Assert.Equal("$(POD_NAMESPACE)", env.Single(e => e.Name == "Scaling__Kubernetes__Namespace").Value);
        Assert.Equal("metadata.namespace", env.Single(e => e.Name == "POD_NAMESPACE").ValueFrom.FieldRef.FieldPath);
    }

    [Fact]
    public void The_default_pools_workers_are_ready_on_readyz_drain_before_they_stop_and_are_disrupted_one_at_a_time()
    {
        var deployment = Single<V1Deployment>("dataplane-default");
        var pod = deployment.Spec.Template.Spec;
        var worker = Assert.Single(pod.Containers);
        Assert.Equal(("/readyz", "9090"), (worker.ReadinessProbe.HttpGet.Path, worker.ReadinessProbe.HttpGet.Port.Value));
        Assert.Equal(("/healthz", "9090"), (worker.LivenessProbe.HttpGet.Path, worker.LivenessProbe.HttpGet.Port.Value));
        var preStop = worker.Lifecycle.PreStop.Sleep.Seconds;
        Assert.True(preStop > 0);
        Assert.True(pod.TerminationGracePeriodSeconds > preStop, "SIGTERM must come with time left to finish what is in flight");
        Assert.False(pod.AutomountServiceAccountToken);
        Assert.Equal("default", worker.Env.Single(e => e.Name == "DataPlane__Pool").Value);
        // Secrets come from Secrets, never from values in the manifest.
        foreach (var name in new[] { "DataPlane__Token", "DataPlane__SecretsKey" })
            Assert.Equal("proxyplatform-pool-default", worker.Env.Single(e => e.Name == name).ValueFrom.SecretKeyRef.Name);

        var budget = Single<V1PodDisruptionBudget>("dataplane-default");
        Assert.Equal(deployment.Spec.Selector.MatchLabels, budget.Spec.Selector.MatchLabels);
        Assert.Equal(deployment.Spec.Selector.MatchLabels, deployment.Spec.Template.Metadata.Labels);
        Assert.Equal("1", budget.Spec.MaxUnavailable.Value);
    }

    [Fact]
    public void Every_secret_the_manifests_read_is_declared_and_shipped_empty()
    {
        var secrets = All().OfType<V1Secret>().ToDictionary(s => s.Metadata.Name);
        var references = All().OfType<V1StatefulSet>().SelectMany(s => s.Spec.Template.Spec.Containers)
            .Concat(All().OfType<V1Deployment>().SelectMany(d => d.Spec.Template.Spec.Containers))
            .SelectMany(c => c.Env).Where(e => e.ValueFrom?.SecretKeyRef is not null).Select(e => e.ValueFrom.SecretKeyRef).ToList();
        Assert.NotEmpty(references);
        foreach (var reference in references)
            Assert.True(secrets.TryGetValue(reference.Name, out var secret) && secret.StringData.ContainsKey(reference.Key), $"{reference.Name}/{reference.Key} is not declared");
        // Empty: a platform applied without filling them in refuses to start, rather than running with a known key.
        Assert.All(secrets.Values.SelectMany(s => s.StringData.Values), Assert.Empty);
    }

    [Fact]
    public void Docker_compose_sets_its_scaling_provider_to_None()
    {
        var yaml = new YamlDotNet.RepresentationModel.YamlStream();
        using (var reader = new StringReader(File.ReadAllText(Path.Combine(RepositoryRoot(), "docker-compose.yml"))))
            yaml.Load(reader);
        var services = (YamlDotNet.RepresentationModel.YamlMappingNode)((YamlDotNet.RepresentationModel.YamlMappingNode)yaml.Documents[0].RootNode)["services"];
        // controlplane-2 merges controlplane-1's environment (a YAML anchor), so this one entry sets both.
        var environment = (YamlDotNet.RepresentationModel.YamlMappingNode)((YamlDotNet.RepresentationModel.YamlMappingNode)services["controlplane-1"])["environment"];
        Assert.Equal("None", ((YamlDotNet.RepresentationModel.YamlScalarNode)environment["Scaling__Provider"]).Value);
    }
}
