using Microsoft.AspNetCore.Http;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Routing;
using ProxyPlatform.Resources;
using ProxyPlatform.Routing;

namespace ProxyPlatform.DataPlane.Tests.Routing;

/// <summary>
/// The overlap analysis (<see cref="RouteOverlaps"/>, as the control plane runs it on every write) against
/// the worker's own route table: what it calls shadowed never answers, what it calls an overlap is one,
/// and the winner it names is the route the worker picks for its sample request.
/// </summary>
public sealed class OverlapAnalysisTests
{
    private static readonly IReadOnlyList<string> Claims = ["acme.test", "*.acme.test"];
    private static readonly ClusterSlot Web = new(ResourceKey.OfCluster("acme", "web"));

    private static RouteSpec Spec(string prefix = "/", string[]? hosts = null, string[]? methods = null, Dictionary<string, string>? headers = null, int priority = 0) => new()
    {
        Match = new RouteMatchSpec { Hosts = hosts ?? [], PathPrefix = prefix, Methods = methods ?? [], Headers = headers ?? [] },
        Cluster = "web",
        Priority = priority,
    };

    private static RouteRules Rules(string id, RouteSpec spec) => RouteRules.Of(ResourceKey.OfRoute("acme", id), spec, Claims);

    private static RouteIndex Index(params RouteRules[] routes)
    {
        var index = new RouteIndex();
        foreach (var route in routes)
            index.Put(route);
        return index;
    }

    private static string[] ShadowersOf(RouteIndex index, string id) =>
        [.. RouteOverlaps.ShadowedBy(index.Get("acme/" + id)!, index.At).Select(r => r.Name)];

    private static RouteOverlap Overlap(RouteIndex index, string id, string other) =>
        Assert.Single(RouteOverlaps.Of(index, index.Get("acme/" + id)!, 100), o => o.Route == "acme/" + other);

    [Fact]
    public void Two_routes_with_the_same_match_shadow_the_one_tried_second()
    {
        var index = Index(Rules("a", Spec("/api")), Rules("b", Spec("/api/")));

        Assert.Equal(["acme/a"], ShadowersOf(index, "b"));
        Assert.Empty(ShadowersOf(index, "a"));
        var overlap = Overlap(index, "b", "a");
        Assert.Equal(("acme/a", RouteOverlaps.Rules.Name), (overlap.Winner, overlap.Rule));
    }

    [Fact]
    public void Nested_prefixes_overlap_and_the_longer_prefix_wins_without_shadowing()
    {
        var index = Index(Rules("api", Spec("/api")), Rules("v1", Spec("/api/v1")));

        Assert.Empty(ShadowersOf(index, "api"));
        Assert.Empty(ShadowersOf(index, "v1"));
        var overlap = Overlap(index, "api", "v1");
        Assert.Equal(("acme/v1", RouteOverlaps.Rules.LongerPrefix, "/api/v1"), (overlap.Winner, overlap.Rule, overlap.SampleRequest!.Path));
        Assert.Empty(RouteOverlaps.Of(Index(Rules("api", Spec("/api")), Rules("apix", Spec("/apix"))), Rules("api", Spec("/api")), 100));
    }

    [Fact]
    public void An_exact_host_wins_over_a_wildcard_and_neither_is_shadowed()
    {
        var index = Index(Rules("exact", Spec(hosts: ["a.acme.test"])), Rules("wild", Spec(hosts: ["*.acme.test"])), Rules("deep", Spec(hosts: ["*.b.acme.test"])));

        Assert.Empty(ShadowersOf(index, "wild"));
        var exact = Overlap(index, "wild", "exact");
        Assert.Equal(("acme/exact", RouteOverlaps.Rules.ExactHost, "a.acme.test"), (exact.Winner, exact.Rule, exact.SampleRequest!.Host));
        var deep = Overlap(index, "wild", "deep");
        Assert.Equal(("acme/deep", RouteOverlaps.Rules.LongerWildcard), (deep.Winner, deep.Rule));
        Assert.EndsWith(".b.acme.test", deep.SampleRequest!.Host, StringComparison.Ordinal);
        // "*.acme.test" does not cover "acme.test" itself.
        Assert.Empty(RouteOverlaps.Of(index, Rules("apex", Spec(hosts: ["acme.test"])), 100));
    }

    [Fact]
    public void Method_lists_shadow_a_route_only_when_together_they_take_all_of_its_methods()
    {
        var index = Index(
            Rules("get", Spec(methods: ["GET"], priority: 2)),
            Rules("post", Spec(methods: ["POST"], priority: 2)),
            Rules("both", Spec(methods: ["GET", "POST"], priority: 1)),
            Rules("get-late", Spec(methods: ["GET", "PUT"])),
            Rules("any", Spec()));

        Assert.Equal(["acme/get", "acme/post"], ShadowersOf(index, "both"));
        Assert.Empty(ShadowersOf(index, "get-late"));
        // "any" has fewer constraints, so it is tried after them all, and takes every other method.
        Assert.Empty(ShadowersOf(index, "any"));
        Assert.Equal(("acme/get", RouteOverlaps.Rules.MoreConstraints), (Overlap(index, "any", "get").Winner, Overlap(index, "any", "get").Rule));
        Assert.Empty(RouteOverlaps.Of(Index(Rules("get", Spec(methods: ["GET"])), Rules("post", Spec(methods: ["POST"]))), Rules("get", Spec(methods: ["GET"])), 100));
    }

    [Fact]
    public void Header_constraints_go_first_and_shadow_only_routes_that_require_as_much()
    {
        var canary = new Dictionary<string, string> { ["x-canary"] = "1" };
        var index = Index(
            Rules("canary", Spec(headers: canary, priority: 1)),
            Rules("canary-late", Spec(headers: canary)),
            Rules("canary-eu", Spec(headers: new() { ["x-canary"] = "1", ["x-region"] = "eu" })),
            Rules("plain", Spec(priority: 9)),
            Rules("blue", Spec(headers: new() { ["x-canary"] = "2" })));

        Assert.Equal(["acme/canary"], ShadowersOf(index, "canary-late"));
        Assert.Empty(ShadowersOf(index, "canary-eu"));
        Assert.Empty(ShadowersOf(index, "plain"));
        Assert.Empty(ShadowersOf(index, "canary"));
        // Different values of one header still overlap: a request may carry the header twice.
        var both = Overlap(index, "canary", "blue");
        Assert.Equal(2, both.SampleRequest!.Headers.Count(h => h.Key == "x-canary"));
    }

    [Fact]
    public void A_higher_priority_shadows_a_route_with_the_same_match_on_every_host()
    {
        var index = Index(
            Rules("high", Spec(hosts: ["a.acme.test"], priority: 5)),
            Rules("low", Spec(hosts: ["a.acme.test"])),
            Rules("two-hosts", Spec(hosts: ["a.acme.test", "b.acme.test"])));

        Assert.Equal(["acme/high"], ShadowersOf(index, "low"));
        Assert.Equal(("acme/high", RouteOverlaps.Rules.Priority), (Overlap(index, "low", "high").Winner, Overlap(index, "low", "high").Rule));
        // Shadowed on one of its hosts, it still answers on the other.
        Assert.Empty(ShadowersOf(index, "two-hosts"));
    }

    /// <summary>
    /// ≥ 10,000 random cases: random route sets of one tenant and random requests. Whatever the analysis
    /// calls fully shadowed, the worker's table never picks; any two routes that both accept a request are
    /// reported as overlapping; and every sample request the analysis reports goes, in the worker's table, to
    /// the winner it names.
    /// </summary>
    [Fact]
    public void The_analysis_and_the_workers_route_table_agree_on_random_route_sets_and_requests()
    {
        var random = new Random(20_2026);
        string[] hostChoices = ["acme.test", "a.acme.test", "*.acme.test", "*.b.acme.test", "c.b.acme.test"];
        string[] prefixChoices = ["/", "/api", "/api/v1", "/web", "/API/v1/"];
        string[] methodChoices = ["GET", "POST", "PUT"];
        (string, string)[] headerChoices = [("x", "1"), ("x", "2"), ("y", "1")];
        string[] requestHosts = ["acme.test", "a.acme.test", "z.acme.test", "c.b.acme.test", "q.b.acme.test", "deep.q.b.acme.test", "other.test"];
        string[] requestPaths = ["/", "/api", "/api/", "/api/v1", "/Api/V1/users", "/web/x", "/webx", "/other"];
        var claims = new Dictionary<string, IReadOnlyList<string>> { ["acme"] = Claims };
        var cases = 0;

        for (var set = 0; set < 600; set++)
        {
            var specs = Enumerable.Range(0, random.Next(1, 9)).Select(i => (Id: $"r{i}", Spec: new RouteSpec
            {
                Match = new RouteMatchSpec
                {
                    Hosts = random.Next(4) == 0 ? [] : [.. Pick(random, hostChoices, 1, 2)],
                    PathPrefix = prefixChoices[random.Next(prefixChoices.Length)],
                    Methods = random.Next(2) == 0 ? [] : [.. Pick(random, methodChoices, 1, 2)],
                    Headers = Pick(random, headerChoices, 0, 2).DistinctBy(h => h.Item1).ToDictionary(h => h.Item1, h => h.Item2),
                },
                Cluster = "web",
                Priority = random.Next(3),
            })).ToList();
            var rules = specs.Select(s => Rules(s.Id, s.Spec)).ToList();
            var index = Index([.. rules]);
            var table = RouteTable.Empty.WithClaims(claims).With([], [.. rules.Select(r => new CompiledRoute(r, Web))]);
            var analysed = RouteMatcher<RouteRules>.Empty.WithClaims(claims).With([], rules);
            var shadowed = rules.Where(r => RouteOverlaps.ShadowedBy(r, index.At).Count > 0).Select(r => r.Name).ToHashSet();

            foreach (var route in rules)
            {
                foreach (var overlap in RouteOverlaps.Of(index, route, 100))
                {
                    if (overlap.SampleRequest is { } sample)
                    {
                        Assert.Equal(overlap.Winner, table.Match(Request(sample))?.Name);
                        cases++;
                    }
                }
            }

            for (var r = 0; r < 20; r++, cases++)
            {
                var request = new SampleRequest(methodChoices[random.Next(methodChoices.Length)], requestHosts[random.Next(requestHosts.Length)],
                    requestPaths[random.Next(requestPaths.Length)], [.. Pick(random, headerChoices, 0, 3).Select(h => KeyValuePair.Create(h.Item1, h.Item2))]);
                var match = table.Match(Request(request));
                Assert.Equal(match?.Name, analysed.Match(request)?.Name);
                if (match is null)
                    continue;
                Assert.DoesNotContain(match.Name, shadowed);
                foreach (var other in rules.Where(o => o.Name != match.Name && Takes(o, request)))
                {
                    var overlap = RouteOverlaps.Of(index, other, 100).SingleOrDefault(o => o.Route == match.Name);
                    Assert.True(overlap is not null, $"{other.Name} and {match.Name} both take {request} but no overlap was reported");
                }
            }
        }
        Assert.True(cases >= 10_000, $"only {cases} cases");
    }

    /// <summary>True when the route's own rules admit the request, whichever route the table picks.</summary>
    private static bool Takes(RouteRules route, SampleRequest request)
    {
        var host = HostNames.Normalize(request.Host);
        var path = RouteRules.NormalizePrefix(request.Path);
        return route.Hosts.Any(h => HostNames.Covers(h, host)) && RouteRules.PathIsUnder(path, route.Prefix) && route.Accepts(request);
    }

    private static IEnumerable<T> Pick<T>(Random random, T[] choices, int min, int max) =>
        choices.OrderBy(_ => random.Next()).Take(random.Next(min, max + 1));

    private static HttpRequest Request(SampleRequest sample)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = sample.Method;
        context.Request.Host = new HostString(sample.Host);
        context.Request.Path = sample.Path;
        foreach (var (name, value) in sample.Headers)
            context.Request.Headers.Append(name, value);
        return context.Request;
    }
}
