using k8s.Models;

namespace ProxyPlatform.ControlPlane.Scaling.Kubernetes;

/// <summary>
/// The Deployment of a pool's workers, as the provider creates it when the pool has none. It is the
/// template infra/k8s/pool-default.yaml spells out for <c>default</c> (a test holds the two equal).
/// </summary>
public static class KubernetesDeployments
{
    /// <summary>How long a pod that Kubernetes removes keeps serving before SIGTERM, so that Services and load balancers stop sending to it first.</summary>
    public const int PreStopSeconds = 10;
    /// <summary>From SIGTERM's start (preStop included), how long a worker has to drain before it is killed.</summary>
    public const int TerminationGraceSeconds = 60;
    public const string NameLabel = "app.kubernetes.io/name", PoolLabel = "proxyplatform.dev/pool", WorkerName = "proxyplatform-dataplane";

    /// <summary>The Deployment's name for a pool (pool IDs are DNS labels, so the name is one too).</summary>
    public static string NameOf(string pool) => $"dataplane-{pool}";

    /// <summary>The Secret holding the pool's worker token and last-known-good key.</summary>
    public static string SecretOf(string pool) => $"proxyplatform-pool-{pool}";

    public static V1Deployment ForPool(string pool, int replicas, KubernetesScalingOptions options)
    {
        var labels = new Dictionary<string, string> { [NameLabel] = WorkerName, [PoolLabel] = pool };
        V1EnvVar Secret(string name, string key) => new() { Name = name, ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = SecretOf(pool), Key = key } } };
        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = new V1ObjectMeta { Name = NameOf(pool), NamespaceProperty = options.Namespace, Labels = new Dictionary<string, string>(labels) },
            Spec = new V1DeploymentSpec
            {
                Replicas = replicas,
                Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string>(labels) },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string>(labels) },
                    Spec = new V1PodSpec
                    {
                        AutomountServiceAccountToken = false,
                        TerminationGracePeriodSeconds = TerminationGraceSeconds,
                        Containers =
                        [
                            new V1Container
                            {
                                Name = "dataplane",
                                Image = options.WorkerImage,
                                Env =
                                [
                                    new V1EnvVar { Name = "ControlPlane__Url", Value = options.ControlPlaneUrl },
                                    new V1EnvVar { Name = "DataPlane__Pool", Value = pool },
                                    Secret("DataPlane__Token", "token"),
                                    Secret("DataPlane__SecretsKey", "secretsKey"),
                                    new V1EnvVar { Name = "DataPlane__DataDir", Value = "/var/lib/proxyplatform" },
                                    new V1EnvVar { Name = "Proxy__Url", Value = "http://0.0.0.0:8080" },
                                    new V1EnvVar { Name = "Proxy__HttpsUrl", Value = "https://0.0.0.0:8443" },
                                    new V1EnvVar { Name = "Ops__Url", Value = "http://0.0.0.0:9090" },
                                ],
                                Ports =
                                [
                                    new V1ContainerPort { Name = "proxy", ContainerPort = 8080 },
                                    new V1ContainerPort { Name = "proxy-tls", ContainerPort = 8443 },
                                    new V1ContainerPort { Name = "ops", ContainerPort = 9090 },
                                ],
                                ReadinessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/readyz", Port = 9090 }, PeriodSeconds = 2, FailureThreshold = 1 },
                                LivenessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/healthz", Port = 9090 }, PeriodSeconds = 10 },
                                Lifecycle = new V1Lifecycle { PreStop = new V1LifecycleHandler { Sleep = new V1SleepAction { Seconds = PreStopSeconds } } },
                                VolumeMounts = [new V1VolumeMount { Name = "lkg", MountPath = "/var/lib/proxyplatform" }],
                            },
                        ],
                        Volumes = [new V1Volume { Name = "lkg", EmptyDir = new V1EmptyDirVolumeSource() }],
                    },
                },
            },
        };
    }
}
