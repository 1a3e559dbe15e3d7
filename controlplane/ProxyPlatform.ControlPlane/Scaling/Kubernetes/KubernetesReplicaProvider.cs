using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace ProxyPlatform.ControlPlane.Scaling.Kubernetes;

/// <summary>
/// <c>Scaling:Provider=Kubernetes</c>: each pool is a Deployment (<see cref="KubernetesDeployments"/>) in
/// <c>Scaling:Kubernetes:Namespace</c>, created when missing and scaled through its <c>scale</c>
/// subresource with a JSON merge patch; ready is the Deployment's <c>status.readyReplicas</c>. The
/// control plane's Role allows just that: get/create/patch on deployments, get/patch on deployments/scale.
/// </summary>
/// <remarks>
/// Kubernetes picks the pod to remove on scale-down, so this provider drains no worker itself: the pod
/// gets its <c>preStop</c> delay, then SIGTERM, on which the worker drains.
/// </remarks>
public sealed class KubernetesReplicaProvider(IKubernetes kubernetes, KubernetesScalingOptions options, ILogger<KubernetesReplicaProvider> logger) : IReplicaProvider
{
    // What each pool's Deployment last showed: the answer while the API server cannot be reached.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ReplicaObservation> _lastSeen = new();

    public string Name => ScalingOptions.KubernetesProvider;

    public int MaxReplicas => Configuration.ConfigValidator.MaxReplicas;

    public async Task<ReplicaObservation> EnsureAsync(string pool, int desired, CancellationToken cancellationToken)
    {
        var name = KubernetesDeployments.NameOf(pool);
        try
        {
            var deployment = await ReadAsync(name, cancellationToken);
            if (deployment is null)
            {
                logger.LogInformation("Pool {Pool} has no Deployment {Name} in namespace {Namespace}: creating it with {Replicas} replicas", pool, name, options.Namespace, desired);
                try
                {
                    deployment = await kubernetes.AppsV1.CreateNamespacedDeploymentAsync(KubernetesDeployments.ForPool(pool, desired, options), options.Namespace, cancellationToken: cancellationToken);
                }
                catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Conflict)
                {
                    // Created meanwhile (by an operator, or a reconciler that was here before): scale that one.
                    deployment = await ReadAsync(name, cancellationToken);
                }
            }
            if (deployment is not null && deployment.Spec.Replicas != desired)
            {
                logger.LogInformation("Scaling Deployment {Name} of pool {Pool} from {From} to {To} replicas", name, pool, deployment.Spec.Replicas, desired);
                // Only the replica count: a merge patch of the scale subresource never touches the pod template.
                var patch = new V1Patch(new { spec = new { replicas = desired } }, V1Patch.PatchType.MergePatch);
                var scale = await kubernetes.AppsV1.PatchNamespacedDeploymentScaleAsync(patch, name, options.Namespace, cancellationToken: cancellationToken);
                deployment.Spec.Replicas = scale.Spec.Replicas;
            }
            return Remember(pool, deployment);
        }
        catch (HttpOperationException ex)
        {
            // A busy or refusing API server, or a missing right: the next call tries again.
            logger.LogWarning("The Kubernetes API answered {Status} for pool {Pool}'s Deployment {Name}: {Body}", (int)ex.Response.StatusCode, pool, name, Shorten(ex.Response.Content));
            return _lastSeen.GetValueOrDefault(pool, ReplicaObservation.None);
        }
        catch (HttpRequestException ex)
        {
            logger.LogWarning("The Kubernetes API is unreachable while scaling pool {Pool}: {Reason}", pool, ex.Message);
            return _lastSeen.GetValueOrDefault(pool, ReplicaObservation.None);
        }
    }

    public async Task<ReplicaObservation> ObserveAsync(string pool, CancellationToken cancellationToken)
    {
        try
        {
            return Remember(pool, await ReadAsync(KubernetesDeployments.NameOf(pool), cancellationToken));
        }
        catch (Exception ex) when (ex is HttpOperationException or HttpRequestException)
        {
            logger.LogWarning("Reading pool {Pool}'s Deployment failed: {Reason}", pool, ex.Message);
            return _lastSeen.GetValueOrDefault(pool, ReplicaObservation.None);
        }
    }

    public Task<bool> DrainAsync(string pool, string worker, CancellationToken cancellationToken) => Task.FromResult(false);

    public Task ReleaseAsync(string pool, CancellationToken cancellationToken)
    {
        _lastSeen.TryRemove(pool, out _);
        return Task.CompletedTask;
    }

    /// <summary>The Deployment, or null when there is none (404).</summary>
    private async Task<V1Deployment?> ReadAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await kubernetes.AppsV1.ReadNamespacedDeploymentAsync(name, options.Namespace, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Pods that exist for the Deployment (<c>status.replicas</c>) and those ready (<c>status.readyReplicas</c>); the pods themselves are not listed.</summary>
    private ReplicaObservation Remember(string pool, V1Deployment? deployment) =>
        _lastSeen[pool] = deployment is null ? ReplicaObservation.None : new ReplicaObservation(deployment.Status?.Replicas ?? 0, deployment.Status?.ReadyReplicas ?? 0, []);

    private static string Shorten(string? text) => text is null ? "" : text.Length > 512 ? text[..512] + "…" : text;

    /// <summary>In a pod: its service account (in-cluster configuration); elsewhere, or with <c>Scaling:Kubernetes:KubeConfig</c>, a kubeconfig.</summary>
    public static IKubernetes CreateClient(KubernetesScalingOptions options)
    {
        var configuration = options.KubeConfig is { } path ? KubernetesClientConfiguration.BuildConfigFromConfigFile(path)
            : KubernetesClientConfiguration.IsInCluster() ? KubernetesClientConfiguration.InClusterConfig()
            : KubernetesClientConfiguration.BuildConfigFromConfigFile();
        return new k8s.Kubernetes(configuration);
    }
}
