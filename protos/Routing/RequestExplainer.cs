using ProxyPlatform.Configuration;

namespace ProxyPlatform.Routing;

/// <summary>The request of an <see cref="ExplainQuery"/> as the worker would match it.</summary>
public sealed record MatchedRequest(string Method, string Host, string RawPath, string? Path, string? PathRefusal, IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    /// <summary>The query's host without a port and normalised, its path decoded and normalised as the worker does.</summary>
    public static MatchedRequest From(ExplainQuery query)
    {
        var host = query.Host.Trim();
        // "name:port": the port is not part of matching.
        var colon = host.LastIndexOf(':');
        if (colon > 0 && host[(colon + 1)..].All(char.IsAsciiDigit))
            host = host[..colon];
        var path = RequestPaths.Normalize(RequestPaths.Decode(query.Path), out var refusal);
        return new MatchedRequest(query.Method.ToUpperInvariant(), HostNames.Normalize(host), query.Path, path, refusal, [.. query.Headers]);
    }

    /// <summary>The request as the matching rules take it; only for a path the worker accepts.</summary>
    public SampleRequest ToSample() => new(Method, Host, Path ?? "/", Headers);
}

/// <summary>
/// Explains which of a tenant's routes takes a request and why every other one does not, by asking the
/// shared matcher (<see cref="RouteMatcher{TRoute}"/>) for every route it tries: the control plane asks
/// one built from the tenant's routes as written, a worker asks its live route table. The first route
/// tried that accepts the request's method and headers takes it; those tried before it lost on a
/// method or a header, those after it lost to it (a more specific host, a longer prefix, more
/// constraints, a higher priority, or the ID); the routes never tried lost on host or path.
/// </summary>
public static class RequestExplainer
{
    /// <summary>An answer lists at most this many routes; the rest are counted.</summary>
    public const int MaxListedRoutes = 200;

    /// <summary>
    /// The control plane's matcher for one tenant: its claims and its routes as every worker compiles them
    /// (<see cref="RouteRules.Of"/>). Another tenant's claims are not in it: a host the tenant does not own
    /// matches nothing, which is all the tenant may learn.
    /// </summary>
    public static RouteMatcher<RouteRules> MatcherOf(string tenant, TenantSpec spec, IEnumerable<(string Id, RouteSpec Spec)> routes, out List<RouteRules> rules)
    {
        var claims = spec.Hostnames.Select(HostNames.Normalize).Distinct(StringComparer.Ordinal).ToList();
        rules = [.. routes.Select(r => RouteRules.Of(Resources.ResourceKey.OfRoute(tenant, r.Id), r.Spec, claims))];
        return RouteMatcher<RouteRules>.Empty
            .WithClaims(new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal) { [tenant] = claims })
            .With([], rules);
    }

    /// <summary>
    /// The routing part of the answer: outcome, the route (<paramref name="match"/>), and every route of the
    /// tenant (<paramref name="tenantRoutes"/>) with why it lost.
    /// </summary>
    public static RequestExplanation Explain<TRoute>(string tenant, RouteMatcher<TRoute> matcher, IReadOnlyCollection<TRoute> tenantRoutes, MatchedRequest request, out TRoute? match)
        where TRoute : RouteRules
    {
        match = null;
        var explained = new ExplainedRequest { Method = request.Method, Host = request.Host, Path = request.RawPath, NormalizedPath = request.Path };
        var answer = new RequestExplanation { Tenant = tenant, Request = explained };
        if (request.Path is null)
            return answer with { Outcome = ExplainOutcomes.BadPath, Reason = $"The worker refuses the path with 400 bad-path before matching: {request.PathRefusal}" };
        if (matcher.OwnerOf(request.Host) != tenant)
            return answer with { Outcome = ExplainOutcomes.NotThisTenantsHost, Reason = $"'{request.Host}' is not this tenant's host: none of the tenant's routes can take it." };

        var sample = request.ToSample();
        var attempts = new List<RouteAttempt<TRoute>>();
        match = matcher.Match(sample, attempts);
        var considered = new List<ConsideredRoute>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        RouteAttempt<TRoute>? winner = null;
        foreach (var attempt in attempts)
        {
            if (!seen.Add(attempt.Route.Id.Id))
                continue;
            var view = View(attempt.Route);
            if (winner is null && attempt.Accepted)
            {
                winner = attempt;
                considered.Insert(0, view with { Selected = true, Reason = $"it is the first route tried for host '{attempt.HostKey}' and prefix '{attempt.Route.Prefix}' that accepts the request." });
            }
            else if (winner is null)
            {
                var method = attempt.Route.Methods.Length > 0 && !attempt.Route.Methods.Contains(request.Method, StringComparer.OrdinalIgnoreCase);
                considered.Add(method
                    ? view with { LostOn = LossReasons.Method, Reason = $"{request.Method} is not one of its methods ({string.Join(", ", attempt.Route.Methods)})." }
                    : view with { LostOn = LossReasons.Header, Reason = $"it needs {string.Join(", ", attempt.Route.Headers.Where(h => !sample.HasHeader(h.Key, h.Value)).Select(h => $"'{h.Key}: {h.Value}'"))}, which the request does not carry." });
            }
            else if (!attempt.Accepted)
            {
                // Tried after the match only because the listing goes on; it would not have taken the request anyway.
                var method = attempt.Route.Methods.Length > 0 && !attempt.Route.Methods.Contains(request.Method, StringComparer.OrdinalIgnoreCase);
                considered.Add(view with { LostOn = method ? LossReasons.Method : LossReasons.Header, Reason = method ? $"{request.Method} is not one of its methods." : "the request lacks a header it needs." });
            }
            else
            {
                considered.Add(view with { LostOn = LostTo(attempt, winner.Value, out var why), Reason = why });
            }
        }
        foreach (var route in tenantRoutes.OrderBy(r => r.Id.Id, StringComparer.Ordinal))
        {
            if (seen.Contains(route.Id.Id))
                continue;
            var hostMatches = route.Hosts.Any(h => HostNames.Covers(h, request.Host));
            considered.Add(hostMatches
                ? View(route) with { LostOn = LossReasons.Path, Reason = $"'{request.Path}' is not under its path prefix '{route.Prefix}' (a prefix ends at a '/')." }
                : View(route) with { LostOn = LossReasons.Host, Reason = $"none of its hosts ({string.Join(", ", route.Hosts)}) is '{request.Host}'." });
        }
        var listed = considered.Take(MaxListedRoutes).ToList();
        answer = answer with { Routes = listed, RoutesOmitted = considered.Count - listed.Count };
        if (match is null)
            return answer with { Outcome = ExplainOutcomes.NoRoute, Reason = "None of the tenant's routes matches: the worker answers 404 no-route." };
        return answer with { Outcome = ExplainOutcomes.Matched, Route = match.Id.Id, Reason = $"Route '{match.Id.Id}' takes it." };
    }

    private static ConsideredRoute View(RouteRules route) => new()
    {
        Route = route.Id.Id,
        Hosts = route.Hosts,
        PathPrefix = route.Prefix,
        Methods = route.Methods,
        Headers = route.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.Ordinal),
        Priority = route.Priority,
    };

    private static string LostTo<TRoute>(RouteAttempt<TRoute> loser, RouteAttempt<TRoute> winner, out string why) where TRoute : RouteRules
    {
        var (l, w) = (loser.Route, winner.Route);
        if (!string.Equals(loser.HostKey, winner.HostKey, StringComparison.OrdinalIgnoreCase))
        {
            why = $"it matches under host '{loser.HostKey}', but route '{w.Id.Id}' matches under the more specific '{winner.HostKey}' (an exact name before wildcards, the longest wildcard first).";
            return LossReasons.LessSpecificHost;
        }
        if (l.Prefix.Length != w.Prefix.Length)
        {
            why = $"it matches, but route '{w.Id.Id}' has a longer path prefix ('{w.Prefix}').";
            return LossReasons.LessSpecificPath;
        }
        if (l.Constraints != w.Constraints)
        {
            why = $"it matches, but route '{w.Id.Id}' is more specific ({w.Constraints} method/header constraints against {l.Constraints}).";
            return LossReasons.LessSpecific;
        }
        if (l.Priority != w.Priority)
        {
            why = $"it matches, but route '{w.Id.Id}' has a higher priority ({w.Priority} against {l.Priority}).";
            return LossReasons.LowerPriority;
        }
        why = $"it matches and ties with route '{w.Id.Id}' in everything else; ties go by route ID.";
        return LossReasons.IdOrder;
    }

    /// <summary>
    /// The path the backend receives: <paramref name="path"/> (normalised), without the route's prefix when it
    /// strips it (as the worker's <c>CompiledRoute.BackendPath</c>); the whole prefix stripped leaves "/".
    /// </summary>
    public static string BackendPath(string prefix, bool stripPrefix, string path)
    {
        if (!stripPrefix || prefix == "/")
            return path;
        var rest = new Microsoft.AspNetCore.Http.PathString(path).StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase, out var remainder) ? remainder.Value : path;
        return string.IsNullOrEmpty(rest) ? "/" : rest;
    }

    /// <summary>
    /// The limits a request on <paramref name="route"/> meets. <paramref name="workerCeiling"/> is the
    /// worker's own body ceiling when the answer comes from a worker.
    /// </summary>
    public static ExplainedLimits Limits(RouteSpec route, ClusterSpec? cluster, TenantSpec tenant, PoolSpec? pool, long? workerCeiling)
    {
        var body = new BodyLimit
        {
            Route = route.MaxRequestBodyBytes,
            TenantQuota = tenant.Quotas?.MaxRequestBodyBytes,
            PoolLimit = pool?.Limits?.MaxRequestBodyBytes,
            Effective = route.MaxRequestBodyBytes ?? workerCeiling,
            Basis = route.MaxRequestBodyBytes is not null
                ? "the route's maxRequestBodyBytes (checked against the tenant's quota and the pool's limit when it was written)"
                : workerCeiling is not null
                    ? "the route sets none: the worker's ceiling (Proxy:MaxRequestBodyBytes, else Kestrel's default)"
                    : "the route sets none: each worker's ceiling (Proxy:MaxRequestBodyBytes, else Kestrel's default of 30,000,000 bytes); explain with ?worker= to see it",
        };
        return new ExplainedLimits
        {
            MaxRequestBodyBytes = body,
            RateLimit = route.RateLimit is { } rate ? new RateLimitSpecView { RequestsPerSecond = rate.RequestsPerSecond, Burst = rate.Burst, Key = rate.Key } : null,
            TimeoutSeconds = route.TimeoutSeconds,
            ConnectTimeoutSeconds = cluster?.Timeouts?.ConnectSeconds,
            ResponseHeadersTimeoutSeconds = cluster?.Timeouts?.ResponseHeadersSeconds,
            IdleTimeoutSeconds = cluster?.Timeouts?.IdleSeconds ?? cluster?.Timeouts?.ResponseHeadersSeconds,
        };
    }

    /// <summary>
    /// The cluster as the control plane intends it: its backends with their verdicts, which of them
    /// requests may go to (the worker's rule: enabled, weight above 0, not Unhealthy while the cluster has a
    /// health check; all enabled ones when every one is Unhealthy and the check panics), and a prediction of
    /// the next pick, since each worker balances on its own.
    /// </summary>
    public static ExplainedCluster PlannedCluster(string id, ClusterDefinition? definition, IReadOnlyDictionary<string, string> verdicts)
    {
        if (definition is null)
            return new ExplainedCluster { Id = id, Exists = false };
        var spec = definition.Spec ?? new ClusterSpec();
        var backends = new List<ExplainedBackend>();
        foreach (var (backendId, backend) in definition.Backends.OrderBy(b => b.Key, StringComparer.Ordinal))
        {
            var verdict = verdicts.GetValueOrDefault(backendId) ?? HealthVerdicts.Unknown;
            var enabled = backend.Enabled && backend.Weight > 0;
            backends.Add(new ExplainedBackend
            {
                Id = backendId,
                Address = backend.Address,
                Weight = backend.Weight,
                Enabled = backend.Enabled,
                Verdict = verdict,
                Routable = enabled && (spec.HealthCheck is null || verdict != HealthVerdicts.Unhealthy),
            });
        }
        if (spec.HealthCheck is { Panic: true } && backends.Any(b => b.Enabled && b.Weight > 0) && !backends.Any(b => b.Routable))
            backends = [.. backends.Select(b => b with { Routable = b.Enabled && b.Weight > 0 })];
        var routable = backends.Where(b => b.Routable).ToList();
        NextBackend next;
        if (routable.Count == 0)
            next = new NextBackend { Prediction = true, Basis = "no backend can take requests: the worker answers 503." };
        else if (spec.LoadBalancing is LoadBalancingPolicies.Random or LoadBalancingPolicies.PowerOfTwoChoices)
            next = new NextBackend { Prediction = true, Basis = $"{spec.LoadBalancing} picks at random among the routable backends." };
        else if (spec.LoadBalancing == LoadBalancingPolicies.WeightedRoundRobin)
            next = new NextBackend { Backend = SmoothWeightedFirst(routable), Prediction = true, Basis = "prediction: the first pick of smooth weighted round robin; each worker keeps its own position, so ask a worker (?worker=) for its next pick." };
        else
            next = new NextBackend { Backend = routable[0].Id, Prediction = true, Basis = $"prediction: {spec.LoadBalancing} starts at the first routable backend by ID; each worker keeps its own position, so ask a worker (?worker=) for its next pick." };
        return new ExplainedCluster { Id = id, Exists = true, LoadBalancing = spec.LoadBalancing, Backends = backends, Next = next };
    }

    private static string SmoothWeightedFirst(List<ExplainedBackend> routable)
    {
        // From all running weights at 0, the first pick is the heaviest, the first by ID among equals.
        var best = routable[0];
        foreach (var backend in routable)
        {
            if (backend.Weight > best.Weight)
                best = backend;
        }
        return best.Id;
    }
}
