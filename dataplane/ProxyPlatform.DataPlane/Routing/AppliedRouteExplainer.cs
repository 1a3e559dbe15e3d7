using System.Diagnostics;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.Resources;
using ProxyPlatform.Routing;

namespace ProxyPlatform.DataPlane.Routing;

/// <summary>
/// Explains a request from what this worker serves now (asked by the control plane over the stream,
/// never on a listener of the worker): the route its live <see cref="RouteTable"/> matches, every other
/// route of the tenant with why it loses, the backends as the worker sees them (verdicts, circuits,
/// requests in flight) and the backend its balancer picks next, read without moving it.
/// </summary>
public sealed class AppliedRouteExplainer(ConfigApplier applier, DataPlaneOptions options)
{
    /// <summary>Kestrel's request-body limit when <c>Proxy:MaxRequestBodyBytes</c> is not set.</summary>
    public const long KestrelDefaultMaxRequestBodyBytes = 30_000_000;

    /// <summary>The answer for <paramref name="tenant"/>; null with the reason when the worker has no configuration yet.</summary>
    public RequestExplanation? Explain(string tenant, ExplainQuery query, out string? error)
    {
        var runtime = applier.Runtime;
        var snapshot = applier.Current;
        if (runtime is null || snapshot is null)
        {
            error = "The worker has no configuration yet.";
            return null;
        }
        error = null;
        var request = MatchedRequest.From(query);
        if (!snapshot.Tenants.TryGetValue(ResourceKey.OfTenant(tenant), out var tenantSpec))
        {
            return new RequestExplanation
            {
                Tenant = tenant,
                Source = "worker",
                Worker = options.WorkerId,
                Revision = runtime.Revision,
                Request = new ExplainedRequest { Method = request.Method, Host = request.Host, Path = request.RawPath, NormalizedPath = request.Path },
                Outcome = ExplainOutcomes.NotThisTenantsHost,
                Reason = $"This worker's applied configuration (revision {runtime.Revision}) has no tenant '{tenant}' yet.",
            };
        }

        // The live table answers: the same lookup a request makes.
        var routes = runtime.RouteIndex.Where(r => r.Key.Tenant == tenant).Select(r => r.Value).ToList();
        var answer = RequestExplainer.Explain(tenant, runtime.Routes.Matcher, routes, request, out var live)
            with { Source = "worker", Worker = options.WorkerId, Revision = runtime.Revision };
        if (live is null || !snapshot.Routes.TryGetValue(live.Id, out var routeSpec))
            return answer;

        var backendPath = live.BackendPath(new PathString(request.Path)).Value;
        var cluster = live.Cluster.Current;
        var verdicts = snapshot.Health.TryGetValue(ResourceKey.OfCluster(tenant, routeSpec.Spec.Cluster), out var health) ? health.Spec.Backends : null;
        var pool = snapshot.Pools.GetValueOrDefault(ResourceKey.OfPool(options.Pool))?.Spec;
        return answer with
        {
            BackendPath = string.IsNullOrEmpty(backendPath) ? "/" : backendPath,
            Cluster = cluster is null ? new ExplainedCluster { Id = routeSpec.Spec.Cluster, Exists = false } : Describe(cluster, routeSpec.Spec.Cluster, verdicts),
            Limits = RequestExplainer.Limits(routeSpec.Spec, cluster?.Definition.Spec, tenantSpec.Spec, pool, options.MaxRequestBodyBytes ?? KestrelDefaultMaxRequestBodyBytes),
        };
    }

    private static ExplainedCluster Describe(ClusterRuntime cluster, string id, IReadOnlyDictionary<string, BackendVerdictSpec>? verdicts)
    {
        var spec = cluster.Definition.Spec ?? new ClusterSpec();
        var live = cluster.Enabled.ToDictionary(b => b.Id, StringComparer.Ordinal);
        var routable = cluster.Backends.Select(b => b.Id).ToHashSet(StringComparer.Ordinal);
        var backends = cluster.Definition.Backends.OrderBy(b => b.Key, StringComparer.Ordinal).Select(b =>
        {
            var state = live.GetValueOrDefault(b.Key)?.State;
            return new ExplainedBackend
            {
                Id = b.Key,
                Address = b.Value.Address,
                Weight = b.Value.Weight,
                Enabled = b.Value.Enabled,
                Verdict = verdicts?.GetValueOrDefault(b.Key)?.Verdict ?? HealthVerdicts.Unknown,
                Routable = routable.Contains(b.Key),
                Circuit = state?.Circuit,
                InFlight = state?.InFlight,
            };
        }).ToList();

        var (index, exact) = cluster.Backends.Length == 0 ? (-1, true) : cluster.Balancer.Peek(cluster.Backends, Stopwatch.GetTimestamp());
        var affinity = cluster.Affinity is null ? "" : " A request that carries the cluster's affinity cookie goes to the backend it names instead.";
        var next = index >= 0
            ? new NextBackend
            {
                Backend = cluster.Backends[index].Id,
                Prediction = !exact || cluster.Affinity is not null,
                Basis = $"{spec.LoadBalancing}: the balancer's next pick as it stands now (a request that arrives first takes that turn).{affinity}",
            }
            : cluster.Backends.Length == 0
                ? new NextBackend { Prediction = false, Basis = "no backend can take requests: the worker answers 503." }
                : exact
                    ? new NextBackend { Prediction = false, Basis = "every backend's circuit is open: the worker answers 503 until one lets a probe through." }
                    : new NextBackend { Prediction = true, Basis = $"prediction: {spec.LoadBalancing} picks at random among the routable backends whose circuit is closed.{affinity}" };
        return new ExplainedCluster { Id = id, Exists = true, LoadBalancing = spec.LoadBalancing, Backends = backends, Next = next };
    }
}
