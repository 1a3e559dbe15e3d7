using ProxyPlatform.Configuration;

namespace ProxyPlatform.Routing;

/// <summary>One route of a tenant as explain weighs it: its ID and its spec as written.</summary>
public readonly record struct ExplainRoute(string Id, RouteSpec Spec);

/// <summary>The request of an <see cref="ExplainQuery"/> as the worker would match it.</summary>
public sealed record MatchedRequest(string Method, string Host, string RawPath, string? Path, string? PathRefusal, IReadOnlyDictionary<string, string> Headers)
{
    /// <summary>The query's host without a port and normalised, its path decoded and normalised as the worker does.</summary>
    public static MatchedRequest From(ExplainQuery query)
    {
        var host = query.Host.Trim();
        // "name:port": the port is not part of matching. (Bracketed IPv6 literals keep their brackets.)
        var colon = host.LastIndexOf(':');
        if (colon > 0 && !host.EndsWith(']') && host[(colon + 1)..].All(char.IsAsciiDigit))
            host = host[..colon];
        var path = RequestPaths.Normalize(RequestPaths.Decode(query.Path), out var refusal);
        var headers = new Dictionary<string, string>(query.Headers, StringComparer.OrdinalIgnoreCase);
        return new MatchedRequest(query.Method.ToUpperInvariant(), HostNames.Normalize(host), query.Path, path, refusal, headers);
    }
}

/// <summary>
/// Explains which of a tenant's routes takes a request and why every other one does not, by the
/// worker's matching rules (see the worker's <c>RouteTable</c>): the tenant's exact host before its
/// wildcards from the longest, then the longest path prefix at a segment boundary, then the most
/// constrained route (methods and headers), then the highest priority, then the ID. The control plane
/// and the workers share it, so both explain a request alike; a worker takes the winner from its live
/// route table.
/// </summary>
public static class RequestExplainer
{
    /// <summary>An answer lists at most this many routes; the rest are counted.</summary>
    public const int MaxListedRoutes = 200;

    /// <summary>
    /// The routing part of the answer: outcome, route, every route considered, and the backend's path.
    /// <paramref name="ownsHost"/> says whether the tenant owns the request's host (by the platform's
    /// claims); <paramref name="winner"/>, when given, is the route a live route table chose and overrides
    /// the computed order.
    /// </summary>
    public static RequestExplanation Explain(string tenant, TenantSpec tenantSpec, IEnumerable<ExplainRoute> routes, MatchedRequest request, bool ownsHost, string? winner = null, bool useWinner = false)
    {
        var explained = new ExplainedRequest { Method = request.Method, Host = request.Host, Path = request.RawPath, NormalizedPath = request.Path };
        var answer = new RequestExplanation { Tenant = tenant, Request = explained };
        if (request.Path is null)
            return answer with { Outcome = ExplainOutcomes.BadPath, Reason = $"The worker refuses the path with 400 bad-path before matching: {request.PathRefusal}" };
        if (!ownsHost)
            return answer with { Outcome = ExplainOutcomes.NotThisTenantsHost, Reason = $"'{request.Host}' is not this tenant's host: the worker answers 404 unknown-host, or sends it to the tenant that owns it." };

        var path = request.Path.TrimEnd('/');
        var candidates = new List<Candidate>();
        var losers = new List<ConsideredRoute>();
        foreach (var (id, spec) in routes.OrderBy(r => r.Id, StringComparer.Ordinal))
        {
            var match = spec.Match ?? new RouteMatchSpec();
            var hosts = match.Hosts is { Count: > 0 } own ? own.Select(HostNames.Normalize).Distinct(StringComparer.Ordinal).ToList() : [.. tenantSpec.Hostnames];
            var prefix = NormalizePrefix(match.PathPrefix);
            var view = new ConsideredRoute
            {
                Route = id,
                Hosts = hosts,
                PathPrefix = match.PathPrefix,
                Methods = match.Methods,
                Headers = match.Headers,
                Priority = spec.Priority,
            };
            var hostRank = HostRank(hosts, request.Host);
            if (hostRank < 0)
            {
                losers.Add(view with { LostOn = LossReasons.Host, Reason = $"none of its hosts ({string.Join(", ", hosts)}) is '{request.Host}'." });
                continue;
            }
            if (!PrefixMatches(prefix, path))
            {
                losers.Add(view with { LostOn = LossReasons.Path, Reason = $"'{request.Path}' is not under its path prefix '{match.PathPrefix}' (a prefix ends at a '/')." });
                continue;
            }
            if (match.Methods.Count > 0 && !match.Methods.Contains(request.Method, StringComparer.OrdinalIgnoreCase))
            {
                losers.Add(view with { LostOn = LossReasons.Method, Reason = $"{request.Method} is not one of its methods ({string.Join(", ", match.Methods)})." });
                continue;
            }
            var missing = match.Headers.FirstOrDefault(h => !request.Headers.TryGetValue(h.Key, out var value) || !string.Equals(value, h.Value, StringComparison.OrdinalIgnoreCase));
            if (missing.Key is not null)
            {
                losers.Add(view with { LostOn = LossReasons.Header, Reason = $"it needs header '{missing.Key}: {missing.Value}', which the request does not carry." });
                continue;
            }
            candidates.Add(new Candidate(id, spec, view, hostRank, prefix.Length, (match.Methods.Count > 0 ? 1 : 0) + match.Headers.Count));
        }

        candidates.Sort(static (a, b) =>
        {
            var c = b.HostRank.CompareTo(a.HostRank);
            if (c == 0)
                c = b.PrefixLength.CompareTo(a.PrefixLength);
            if (c == 0)
                c = b.Constraints.CompareTo(a.Constraints);
            if (c == 0)
                c = b.Spec.Priority.CompareTo(a.Spec.Priority);
            return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
        });
        var best = useWinner ? candidates.FirstOrDefault(c => c.Id == winner) : candidates.FirstOrDefault();
        var considered = new List<ConsideredRoute>();
        if (best is not null)
        {
            considered.Add(best.View with { Selected = true, Reason = "it matches the request, and comes first by the matching order." });
            foreach (var other in candidates.Where(c => c != best))
                considered.Add(other.View with { LostOn = LostTo(other, best, out var why), Reason = why });
        }
        else
        {
            foreach (var other in candidates)
                considered.Add(other.View with { LostOn = LossReasons.IdOrder, Reason = "it matches by these rules, but the worker's route table chose no route: it does not serve this route as written (see the worker's rejected resources)." });
        }
        considered.AddRange(losers);
        var listed = considered.Take(MaxListedRoutes).ToList();
        answer = answer with { Routes = listed, RoutesOmitted = considered.Count - listed.Count };
        if (best is null)
            return answer with { Outcome = ExplainOutcomes.NoRoute, Reason = "None of the tenant's routes matches: the worker answers 404 no-route." };
        var route = best.Spec;
        return answer with
        {
            Outcome = ExplainOutcomes.Matched,
            Route = best.Id,
            Reason = $"Route '{best.Id}' takes it.",
            BackendPath = BackendPath(NormalizePrefix(route.Match?.PathPrefix), route.StripPrefix, request.Path),
        };
    }

    /// <summary>True when <paramref name="claims"/> (normalised) cover <paramref name="host"/>.</summary>
    public static bool Covers(IEnumerable<string> claims, string host) => claims.Any(c => HostNames.Covers(c, host));

    /// <summary>The path the backend receives: <paramref name="path"/> (normalised), without the prefix when the route strips it.</summary>
    public static string BackendPath(string prefix, bool stripPrefix, string path)
    {
        if (!stripPrefix || prefix == "/")
            return path;
        // The whole prefix stripped leaves nothing; the backend's request line then asks for "/".
        if (path.Length == prefix.Length && path.Equals(prefix, StringComparison.OrdinalIgnoreCase))
            return "/";
        return path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && path.Length > prefix.Length && path[prefix.Length] == '/'
            ? path[prefix.Length..]
            : path;
    }

    /// <summary>The prefix as requests are matched against it: decoded, without its trailing slash; the root stays <c>/</c>.</summary>
    public static string NormalizePrefix(string? pathPrefix)
    {
        var trimmed = RequestPaths.Decode(pathPrefix ?? "/").TrimEnd('/');
        return trimmed.Length == 0 ? "/" : trimmed;
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

    private sealed record Candidate(string Id, RouteSpec Spec, ConsideredRoute View, int HostRank, int PrefixLength, int Constraints);

    private static string LostTo(Candidate loser, Candidate winner, out string why)
    {
        if (loser.HostRank != winner.HostRank)
        {
            why = $"it matches, but route '{winner.Id}' has a more specific host (an exact name before wildcards, the longest wildcard first).";
            return LossReasons.LessSpecificHost;
        }
        if (loser.PrefixLength != winner.PrefixLength)
        {
            why = $"it matches, but route '{winner.Id}' has a longer path prefix.";
            return LossReasons.LessSpecificPath;
        }
        if (loser.Constraints != winner.Constraints)
        {
            why = $"it matches, but route '{winner.Id}' is more specific ({winner.Constraints} method/header constraints against {loser.Constraints}).";
            return LossReasons.LessSpecific;
        }
        if (loser.Spec.Priority != winner.Spec.Priority)
        {
            why = $"it matches, but route '{winner.Id}' has a higher priority ({winner.Spec.Priority} against {loser.Spec.Priority}).";
            return LossReasons.LowerPriority;
        }
        why = $"it matches and ties with route '{winner.Id}' in everything else; ties go by route ID.";
        return LossReasons.IdOrder;
    }

    /// <summary>-1 when no host of the route is the request's; otherwise higher for a more specific one (exact highest, then the longest wildcard).</summary>
    private static int HostRank(IEnumerable<string> hosts, string host)
    {
        var rank = -1;
        foreach (var candidate in hosts)
        {
            if (candidate == host)
                return int.MaxValue;
            if (HostNames.IsWildcard(candidate) && !HostNames.IsWildcard(host) && HostNames.Covers(candidate, host))
                rank = Math.Max(rank, candidate.Length);
        }
        return rank;
    }

    private static bool PrefixMatches(string prefix, string path) =>
        prefix == "/"
        || path.Equals(prefix, StringComparison.OrdinalIgnoreCase)
        || path.Length > prefix.Length && path[prefix.Length] == '/' && path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase);
}
