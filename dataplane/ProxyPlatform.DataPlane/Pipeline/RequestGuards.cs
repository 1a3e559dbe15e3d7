using Microsoft.AspNetCore.Http.Features;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Forwarding;
using ProxyPlatform.DataPlane.Routing;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>What a request that passed the guards is forwarded with: its route's cluster as served now, and its client as the worker believes it.</summary>
public readonly record struct Admission(ClusterRuntime Cluster, ForwardedValues Forwarded);

/// <summary>
/// The checks between a matched route and its backends, in this order: a request that is looping
/// (508), a body the route's limit refuses up front (413; a body without a length is held to the
/// limit as it is read), a client over the route's rate (429, with <c>Retry-After</c>), and a
/// cluster with no backend to send to (503).
/// </summary>
public sealed class RequestGuards(ProxyOptions options)
{
    /// <summary>The request's admission to <paramref name="route"/>'s cluster, or null and the answer in <paramref name="refusal"/>.</summary>
    public Admission? Admit(HttpContext context, CompiledRoute route, out Problem refusal)
    {
        var request = context.Request;
        if (LoopDetection.Check(request, options) is { } loop)
        {
            refusal = Problem.LoopDetected(loop);
            return null;
        }
        if (route.MaxRequestBodyBytes is { } maxBody)
        {
            if (request.ContentLength > maxBody)
            {
                refusal = Problem.BodyTooLarge(maxBody);
                return null;
            }
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
                limit.MaxRequestBodySize = maxBody;
        }
        var forwarded = ForwardedHeaders.Resolve(context, options.TrustedProxies);
        if (route.RateLimit is { } rateLimit)
        {
            var key = rateLimit.Header is { } header ? request.Headers[header].ToString() : forwarded.RealIp;
            if (!rateLimit.TryAcquire(key, out var retryAfter))
            {
                refusal = Problem.RateLimited(rateLimit, retryAfter);
                return null;
            }
        }
        var cluster = route.Cluster.Current;
        if (cluster is null || cluster.Backends.Length == 0)
        {
            refusal = Problem.NoBackend(cluster);
            return null;
        }
        refusal = default;
        return new Admission(cluster, forwarded);
    }
}
