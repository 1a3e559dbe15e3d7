using Microsoft.AspNetCore.Routing.Matching;
using ProxyPlatform.DataPlane.Hosting;

namespace ProxyPlatform.DataPlane.Ops;

/// <summary>
/// Keeps the ops listener and the proxy listener apart although they share one process and one
/// route table: endpoints marked with <see cref="OpsEndpointMetadata"/> answer only on the ops port,
/// and every other endpoint (YARP's routes, the no-route fallback) only on the proxy port. The port
/// is the connection's local port, not the Host header, which a client controls.
/// </summary>
public sealed class OpsListenerPolicy(DataPlaneOptions options) : MatcherPolicy, IEndpointSelectorPolicy
{
    public override int Order => 0;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) => true;

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        var onOpsPort = httpContext.Connection.LocalPort == options.OpsUrl.Port;
        for (var i = 0; i < candidates.Count; i++)
        {
            var isOps = candidates[i].Endpoint.Metadata.GetMetadata<OpsEndpointMetadata>() is not null;
            if (isOps != onOpsPort)
                candidates.SetValidity(i, false);
        }
        return Task.CompletedTask;
    }
}

/// <summary>Marks an endpoint as the ops listener's.</summary>
public sealed class OpsEndpointMetadata
{
    public static OpsEndpointMetadata Instance { get; } = new();

    private OpsEndpointMetadata()
    {
    }
}
