using System.Text.Json;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.Routing;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>
/// Explain a request (<c>POST /v1/tenants/{t}/explain</c>, gRPC <c>ExplainRequest</c>): which of the
/// tenant's routes takes it and why the others do not, the path its backend sees, the cluster with its
/// backends' verdicts and the next pick, and the limits. From the control plane's configuration, or with
/// a worker named, from that worker's applied configuration, asked over its stream
/// (<see cref="Distribution.WorkerStreams"/>). Reading the tenant is the right it needs.
/// </summary>
public sealed class ExplainOperations(AdminOperations ops, IGrainFactory grains)
{
    /// <summary>How long a worker has to answer.</summary>
    public static readonly TimeSpan WorkerTimeout = TimeSpan.FromSeconds(5);

    public async Task<RequestExplanation> Explain(Caller caller, string tenant, ExplainQuery? query, string? worker)
    {
        Validate(ConfigValidator.ValidateId("tenant", tenant));
        caller.EnsureCanRead(tenant);
        Validate(ConfigValidator.Validate(query));
        var tenantResource = await ops.GetTenant(caller, tenant);
        if (worker is not null)
            return await AskWorker(tenantResource, query!, worker);

        var request = MatchedRequest.From(query!);
        var routes = await ops.ListRoutes(caller, tenant);
        var matcher = RequestExplainer.MatcherOf(tenant, tenantResource.Spec, routes.Select(r => (r.Route, r.Spec)), out var rules);
        var answer = RequestExplainer.Explain(tenant, matcher, rules, request, out var match);
        var revision = Math.Max(tenantResource.Revision, routes.Count == 0 ? 0 : routes.Max(r => r.Revision));
        answer = answer with { Source = "control-plane", Revision = revision };
        if (match is null)
            return answer;

        var route = routes.Single(r => r.Route == match.Id.Id).Spec;
        ClusterDefinition? definition = null;
        var verdicts = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            var cluster = await ops.GetCluster(caller, tenant, route.Cluster);
            // A cluster has at most MaxBackends: one page holds them all.
            var backends = (await ops.ListBackendsWithHealth(caller, tenant, route.Cluster, new PageRequest(Backends.ClusterGrain.MaxBackends, null))).Items;
            definition = new ClusterDefinition { Spec = cluster.Spec, Backends = backends.ToDictionary(b => b.Backend.Backend, b => b.Backend.Spec, StringComparer.Ordinal) };
            foreach (var (backend, health) in backends)
                verdicts[backend.Backend] = health.Verdict;
            revision = Math.Max(revision, cluster.Revision);
        }
        catch (AdminException ex) when (ex.Kind == AdminErrorKind.NotFound)
        {
        }
        var pool = await grains.GetGrain<IDataPlanePoolGrain>(tenantResource.Spec.Pool).Get();
        return answer with
        {
            Revision = revision,
            BackendPath = RequestExplainer.BackendPath(match.Prefix, route.StripPrefix, request.Path!),
            Cluster = RequestExplainer.PlannedCluster(route.Cluster, definition, verdicts),
            Limits = RequestExplainer.Limits(route, definition?.Spec, tenantResource.Spec, pool?.Spec, workerCeiling: null),
        };
    }

    /// <summary>
    /// The worker's own answer. A worker that does not exist, or that serves another pool than the tenant's,
    /// is not found (a tenant learns nothing of other pools' workers); one that does not answer is a timeout.
    /// </summary>
    private async Task<RequestExplanation> AskWorker(TenantResource tenant, ExplainQuery query, string worker)
    {
        if (worker.Length is 0 or > 253 || worker.Contains('/', StringComparison.Ordinal) || worker.Any(char.IsControl))
            throw AdminException.Invalid("worker", "is not a worker ID (at most 253 characters, no '/').");
        var grain = grains.GetGrain<IDataPlaneGrain>(worker);
        var status = await grain.Get();
        if (status is null || status.Pool != tenant.Spec.Pool)
            throw AdminException.NotFound($"Worker '{worker}' of tenant '{tenant.Tenant}''s pool");
        var stream = await grain.GetStream()
            ?? throw AdminException.Timeout($"Worker '{worker}' is not connected to the control plane, so it cannot answer.");
        byte[] json;
        try
        {
            json = await stream.Node.Explain(worker, stream.Instance, tenant.Tenant, JsonSerializer.SerializeToUtf8Bytes(query, ConfigJson.Options), WorkerTimeout)
                .WaitAsync(WorkerTimeout + TimeSpan.FromSeconds(2));
        }
        catch (TimeoutException)
        {
            throw AdminException.Timeout($"Worker '{worker}' did not answer within {WorkerTimeout.TotalSeconds:0} s.");
        }
        catch (Exception ex) when (ex is SiloUnavailableException or OrleansMessageRejectionException or ClientNotAvailableException)
        {
            throw AdminException.Timeout($"Worker '{worker}''s control-plane node is not reachable; try again.");
        }
        RequestExplanation? answer;
        try
        {
            answer = JsonSerializer.Deserialize<RequestExplanation>(json, ConfigJson.Options);
        }
        catch (JsonException)
        {
            answer = null;
        }
        // The worker is asked about this tenant alone; an answer about anything else is not passed on.
        if (answer is null || answer.Tenant != tenant.Tenant)
            throw AdminException.Timeout($"Worker '{worker}' sent no usable answer.");
        return answer with { Source = "worker", Worker = worker };
    }

    private static void Validate(IReadOnlyList<FieldError> errors)
    {
        if (errors.Count > 0)
            throw AdminException.Invalid(errors);
    }
}
