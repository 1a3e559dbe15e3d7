namespace ProxyPlatform.ControlPlane.Scaling.Kubernetes;

/// <summary>The Kubernetes provider's settings (<c>Scaling:Kubernetes:*</c>).</summary>
public sealed record KubernetesScalingOptions
{
    /// <summary>Where a pod finds the namespace it runs in.</summary>
    public const string InClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

    /// <summary>
    /// <c>Scaling:Kubernetes:Namespace</c>: where the pools' Deployments live. Default: the namespace the
    /// control plane's pod runs in, else <c>default</c>.
    /// </summary>
    public string Namespace { get; init; } = "default";
    /// <summary><c>Scaling:Kubernetes:KubeConfig</c>: a kubeconfig file. Unset: in-cluster configuration when running in a pod, else the usual kubeconfig (<c>KUBECONFIG</c>, <c>~/.kube/config</c>).</summary>
    public string? KubeConfig { get; init; }
    /// <summary><c>Scaling:Kubernetes:WorkerImage</c>: the worker image of a Deployment the provider creates.</summary>
    public string WorkerImage { get; init; } = "proxyplatform/dataplane:latest";
    /// <summary><c>Scaling:Kubernetes:ControlPlaneUrl</c>: where the workers of a created Deployment find the control plane's gRPC listener.</summary>
    public string ControlPlaneUrl { get; init; } = "http://controlplane:5101";

    public static KubernetesScalingOptions From(IConfiguration configuration)
    {
        var defaults = new KubernetesScalingOptions();
        var ns = configuration["Scaling:Kubernetes:Namespace"] is { Length: > 0 } configured ? configured
            : File.Exists(InClusterNamespaceFile) ? File.ReadAllText(InClusterNamespaceFile).Trim()
            : defaults.Namespace;
        // A namespace is a DNS label (RFC 1123), as Kubernetes validates it.
        if (!Configuration.ConfigValidator.IsValidId(ns))
            throw new InvalidOperationException($"Scaling:Kubernetes:Namespace must be a DNS label (lower-case letters, digits and '-', at most 63); got '{ns}'.");
        var controlPlaneUrl = configuration["Scaling:Kubernetes:ControlPlaneUrl"] is { Length: > 0 } url ? url : defaults.ControlPlaneUrl;
        if (!Uri.TryCreate(controlPlaneUrl, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https"))
            throw new InvalidOperationException($"Scaling:Kubernetes:ControlPlaneUrl must be an http:// or https:// URL; got '{controlPlaneUrl}'.");
        return new KubernetesScalingOptions
        {
            Namespace = ns,
            KubeConfig = configuration["Scaling:Kubernetes:KubeConfig"] is { Length: > 0 } path ? path : null,
            WorkerImage = configuration["Scaling:Kubernetes:WorkerImage"] is { Length: > 0 } image ? image : defaults.WorkerImage,
            ControlPlaneUrl = controlPlaneUrl,
        };
    }
}
