using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using ProxyPlatform.EndToEnd.Tests.Metrics;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.WebConsole;

/// <summary>The web console at /ui in a real browser (headless Debian chromium) against a real control plane and worker.</summary>
[Collection(ConsoleCollection.Name)]
public sealed partial class ConsoleTests(ConsoleFixture fixture)
{
    [Fact]
    public async Task The_console_is_served_anonymously_with_a_strict_CSP_and_an_operator_key_logs_in_without_console_errors()
    {
        await using var tab = await fixture.OpenAsync();
        var response = await tab.LogInAsync(fixture.Platform.OperatorKey);

        var csp = await response.HeaderValueAsync("content-security-policy");
        Assert.NotNull(csp);
        Assert.Contains("default-src 'self'", csp);
        Assert.Contains("script-src 'self'", csp);
        Assert.Contains("style-src 'self'", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.DoesNotContain("unsafe-inline", csp);
        Assert.DoesNotContain("unsafe-eval", csp);

        // Every tenant, its hosts and quotas with use; the operator's menu.
        await Assertions.Expect(tab.Page.Locator("#tenants tr[data-tenant=ui-acme]")).ToContainTextAsync("ui-acme.test");
        await Assertions.Expect(tab.Page.Locator("#tenants tr[data-tenant=ui-other]")).ToBeVisibleAsync();
        await Assertions.Expect(tab.Page.Locator("#tenants tr[data-tenant=ui-acme] meter").First).ToBeVisibleAsync();
        await Assertions.Expect(tab.Page.Locator("#nav")).ToContainTextAsync("Pools & workers");
        await tab.ScreenshotAsync("tenants");

        // The key is in session storage only: never in the URL, never in a cookie.
        Assert.DoesNotContain(fixture.Platform.OperatorKey, tab.Page.Url);
        Assert.Empty(await tab.Page.Context.CookiesAsync());
        Assert.Equal(fixture.Platform.OperatorKey, await tab.Page.EvaluateAsync<string>("() => sessionStorage.getItem('pp.key')"));

        // A tenant's page and the pools page render without a CSP violation or script error.
        await tab.GoAsync("#/tenants/ui-acme");
        await Assertions.Expect(tab.Page.Locator("#routes tr[data-route=api]")).ToContainTextAsync("/api");
        await Assertions.Expect(tab.Page.Locator("article[data-cluster=web] tr[data-backend=a]")).ToBeVisibleAsync();
        await tab.ScreenshotAsync("tenant");
        await tab.GoAsync("#/pools");
        await Assertions.Expect(tab.Page.Locator("tr[data-worker=console-1]").First).ToBeVisibleAsync();
        await Assertions.Expect(tab.Page.Locator("tr[data-pool=default]")).ToBeVisibleAsync();
        await tab.ScreenshotAsync("pools");
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task Assets_are_immutable_under_a_hashed_path_the_page_is_not_cached_and_only_ui_is_anonymous()
    {
        using var anonymous = fixture.Platform.Silos[0].Client(null);
        using var page = await anonymous.GetAsync("/ui");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("no-cache", page.Headers.CacheControl!.ToString());
        Assert.Equal("nosniff", page.Headers.GetValues("X-Content-Type-Options").Single());
        var html = await page.Content.ReadAsStringAsync();
        Assert.DoesNotContain("<style", html);
        Assert.DoesNotContain("style=", html);
        Assert.DoesNotMatch(@"<script(?![^>]*\bsrc=)[^>]*>", html);

        var script = AppScript().Match(html);
        Assert.True(script.Success, html);
        using var asset = await anonymous.GetAsync(script.Groups["path"].Value);
        Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
        Assert.Equal("text/javascript", asset.Content.Headers.ContentType!.MediaType);
        Assert.Contains("immutable", asset.Headers.CacheControl!.ToString());
        Assert.True(asset.Headers.CacheControl!.MaxAge >= TimeSpan.FromDays(365));
        // The charting library comes from npm, copied by the build and served from here.
        using var chart = await anonymous.GetAsync(script.Groups["path"].Value.Replace("app.js", "vendor/chart.umd.min.js", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, chart.StatusCode);
        using var stale = await anonymous.GetAsync("/ui/assets/0000000000000000/app.js");
        Assert.Equal(HttpStatusCode.NotFound, stale.StatusCode);

        // The API stays closed to anonymous callers; /ui paths are not a way around it.
        using var api = await anonymous.GetAsync("/v1/tenants");
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        using var other = await anonymous.GetAsync("/ui/../v1/tenants");
        Assert.Equal(HttpStatusCode.Unauthorized, other.StatusCode);
        // The console is on the admin listener only: the ops listener (no credentials) does not serve it.
        using var ops = new HttpClient { BaseAddress = new Uri(fixture.Platform.Silos[0].OpsUrl) };
        using var onOps = await ops.GetAsync("/ui");
        Assert.Equal(HttpStatusCode.NotFound, onOps.StatusCode);
    }

    [Fact]
    public async Task A_bad_key_shows_a_clear_401_message_and_stays_on_the_log_in_page()
    {
        await using var tab = await fixture.OpenAsync();
        await tab.Page.GotoAsync(fixture.ConsoleUrl);
        await tab.Page.FillAsync("#key", "ppk_not-a-real-key");
        await tab.Page.ClickAsync("#login button[type=submit]");
        await Assertions.Expect(tab.Page.Locator("#login-error")).ToContainTextAsync("401");
        await Assertions.Expect(tab.Page.Locator("#login-error")).ToContainTextAsync("not accepted");
        Assert.Null(await tab.Page.EvaluateAsync<string?>("() => sessionStorage.getItem('pp.key')"));
        Assert.DoesNotContain("ppk_not-a-real-key", tab.Page.Url);
        await tab.ScreenshotAsync("login-401");
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task A_tenant_key_sees_its_tenant_only_and_another_tenant_is_a_clear_error()
    {
        await using var tab = await fixture.OpenAsync();
        await tab.LogInAsync(fixture.AcmeKey);
        await Assertions.Expect(tab.Page.Locator("#tenants tr[data-tenant=ui-acme]")).ToBeVisibleAsync();
        await Assertions.Expect(tab.Page.Locator("#tenants tr[data-tenant=ui-other]")).ToHaveCountAsync(0);
        await Assertions.Expect(tab.Page.Locator("#tenants tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(tab.Page.Locator("#nav")).Not.ToContainTextAsync("Pools");
        await Assertions.Expect(tab.Page.Locator("[data-testid=role]")).ToContainTextAsync("tenant ui-acme");

        await tab.GoAsync("#/tenants/ui-other");
        await Assertions.Expect(tab.Page.Locator("[data-testid=page-error]")).ToContainTextAsync("404");
        await Assertions.Expect(tab.Page.Locator("body")).Not.ToContainTextAsync("secret-cluster");
        await tab.GoAsync("#/pools");
        await Assertions.Expect(tab.Page.Locator("[data-testid=page-error]")).ToContainTextAsync("403");
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task A_routes_live_traffic_chart_shows_requests_sent_through_a_worker_without_reloading()
    {
        await using var tab = await fixture.OpenAsync();
        await tab.LogInAsync(fixture.Platform.OperatorKey);
        await tab.GoAsync("#/tenants/ui-acme/traffic");
        await Assertions.Expect(tab.Page.Locator("#traffic-status")).Not.ToContainTextAsync("Loading");
        var url = tab.Page.Url;

        // The history steps from totals the control plane already has: the first request sets the base,
        // so traffic keeps flowing until the chart shows it.
        var card = tab.Page.Locator("article[data-route=api]");
        await Eventually.Async(async () =>
        {
            await ConsoleFixtureTraffic.SendAsync(fixture.Worker, "/api/status/200?t=chart", 200, 5);
            await ConsoleFixtureTraffic.SendAsync(fixture.Worker, "/api/status/404?t=chart", 404, 2);
            return await card.CountAsync() == 1 && int.Parse(await card.GetAttributeAsync("data-requests") ?? "0") > 0;
        }, TimeSpan.FromSeconds(90), () => "the api route's chart never showed traffic");

        await Assertions.Expect(card.Locator("canvas")).ToHaveCountAsync(2);
        await Assertions.Expect(card.Locator(".summary")).ToContainTextAsync("requests in the window");
        Assert.Equal(url, tab.Page.Url);
        await tab.ScreenshotAsync("traffic");
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task Draining_a_backend_in_the_console_stops_the_worker_sending_it_traffic_and_enabling_brings_it_back()
    {
        await using var tab = await fixture.OpenAsync();
        await tab.LogInAsync(fixture.Platform.OperatorKey);
        await tab.GoAsync("#/tenants/ui-acme");
        var row = tab.Page.Locator("article[data-cluster=web] tr[data-backend=b]");
        await row.Locator("button[data-action=drain]").ClickAsync();
        await Assertions.Expect(row).ToHaveAttributeAsync("data-verdict", "draining");
        await Assertions.Expect(tab.Page.Locator("article[data-cluster=web] tr[data-backend=b] button[data-action=enable]")).ToBeVisibleAsync();

        // Round robin over a and b until the worker applies the change; then every request goes to a.
        var round = 0;
        await Eventually.Async(async () =>
        {
            var tag = $"drain{++round}";
            await ConsoleFixtureTraffic.SendAsync(fixture.Worker, $"/api/x?t={tag}", 200, 6);
            return fixture.B.Answered(tag, "2xx") == 0 && fixture.A.Answered(tag, "2xx") == 6;
        }, TimeSpan.FromSeconds(60), () => "backend b still gets requests after it was drained");

        await tab.Page.Locator("article[data-cluster=web] tr[data-backend=b] button[data-action=enable]").ClickAsync();
        await Assertions.Expect(tab.Page.Locator("article[data-cluster=web] tr[data-backend=b]")).Not.ToHaveAttributeAsync("data-verdict", "draining");
        await Eventually.Async(async () =>
        {
            var tag = $"enable{++round}";
            await ConsoleFixtureTraffic.SendAsync(fixture.Worker, $"/api/x?t={tag}", 200, 6);
            return fixture.B.Answered(tag, "2xx") > 0;
        }, TimeSpan.FromSeconds(60), () => "backend b gets no request after it was enabled again");
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task Editing_a_route_shows_the_APIs_validation_problems_next_to_their_fields_and_changes_nothing()
    {
        await using var tab = await fixture.OpenAsync();
        await tab.LogInAsync(fixture.AcmeKey);
        await tab.GoAsync("#/tenants/ui-acme/routes/api/edit");
        await tab.Page.FillAsync("#route-form input[name='match.methods']", "get");
        await tab.Page.FillAsync("#route-form input[name='rateLimit.requestsPerSecond']", "0");
        await tab.Page.ClickAsync("#route-form button[type=submit]");

        var methods = tab.Page.Locator("#route-form .field[data-field='match.methods']");
        await Assertions.Expect(methods).ToHaveClassAsync(new Regex("invalid"));
        await Assertions.Expect(methods.Locator(".field-error")).ToContainTextAsync("HTTP method");
        await Assertions.Expect(tab.Page.Locator("#route-form .field[data-field='rateLimit.requestsPerSecond'] .field-error")).ToContainTextAsync("more than 0");
        await Assertions.Expect(tab.Page.Locator("#form-error")).ToContainTextAsync("400");
        await tab.ScreenshotAsync("route-form-errors");

        using var route = await fixture.Platform.Admin.GetAsync("/v1/tenants/ui-acme/routes/api");
        var body = JsonNode.Parse(await route.Content.ReadAsStringAsync())!;
        Assert.True(body["match"]!["methods"] is null or JsonArray { Count: 0 }, body.ToJsonString());
        Assert.Equal(1000, body["rateLimit"]!["requestsPerSecond"]!.GetValue<double>());

        // A valid edit is saved and shown.
        await tab.Page.FillAsync("#route-form input[name='match.methods']", "GET, POST");
        await tab.Page.FillAsync("#route-form input[name='rateLimit.requestsPerSecond']", "500");
        await tab.Page.ClickAsync("#route-form button[type=submit]");
        await Assertions.Expect(tab.Page.Locator("#routes tr[data-route=api]")).ToContainTextAsync("[GET,POST]");
        await Assertions.Expect(tab.Page.Locator("#routes tr[data-route=api]")).ToContainTextAsync("500/s");
        Assert.Empty(tab.Errors);
    }

    [Fact]
    public async Task The_console_works_on_a_phone_sized_screen()
    {
        await using var tab = await fixture.OpenAsync(phone: true);
        await tab.LogInAsync(fixture.Platform.OperatorKey);
        // The menu folds behind a button; the page does not scroll sideways as a whole.
        await Assertions.Expect(tab.Page.Locator("#menu-toggle")).ToBeVisibleAsync();
        await Assertions.Expect(tab.Page.Locator("#nav")).Not.ToBeVisibleAsync();
        await tab.Page.ClickAsync("#menu-toggle");
        await Assertions.Expect(tab.Page.Locator("#nav a[href='#/pools']")).ToBeVisibleAsync();
        await tab.GoAsync("#/tenants/ui-acme");
        await Assertions.Expect(tab.Page.Locator("#routes tr[data-route=api]")).ToBeVisibleAsync();
        var overflow = await tab.Page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth > window.innerWidth + 1");
        Assert.False(overflow, "the page is wider than the phone's screen");
        await tab.ScreenshotAsync("phone-tenant");
        Assert.Empty(tab.Errors);
    }

    // ---- These need the configuration documents (branch configdoc) and the audit trail (branch audit). ----

    private async Task SkipUnlessServedAsync(string path)
    {
        using var response = await fixture.Platform.Admin.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.SkipWhen(response.StatusCode == HttpStatusCode.NotFound && text.Contains("No admin endpoint answers", StringComparison.Ordinal),
            $"This control plane does not serve {path} yet.");
    }

    [Fact]
    public async Task A_YAML_edit_is_applied_only_after_its_dry_run_diff_and_the_audit_entry_rolls_it_back()
    {
        await SkipUnlessServedAsync("/v1/tenants/ui-yaml/config");
        await using var tab = await fixture.OpenAsync();
        await tab.LogInAsync(fixture.Platform.OperatorKey);
        await tab.GoAsync("#/tenants/ui-yaml/config");
        var editor = tab.Page.Locator("#yaml");
        await Assertions.Expect(editor).ToHaveValueAsync(new Regex("pathPrefix: /one"));
        var yaml = await editor.InputValueAsync();
        await editor.FillAsync(yaml.Replace("pathPrefix: /one", "pathPrefix: /two", StringComparison.Ordinal));
        await Assertions.Expect(tab.Page.Locator("#apply")).ToBeDisabledAsync();
        await tab.Page.ClickAsync("#preview");
        await Assertions.Expect(tab.Page.Locator("[data-testid=diff]")).ToContainTextAsync("match.pathPrefix");
        await Assertions.Expect(tab.Page.Locator("[data-testid=diff]")).ToContainTextAsync("/two");
        await tab.ScreenshotAsync("config-diff");
        // The dry run changed nothing.
        Assert.Equal("/one", await RouteR1PathAsync());
        await tab.Page.ClickAsync("#apply");
        await Assertions.Expect(tab.Page.Locator("#banner")).ToContainTextAsync("Applied as revision");
        Assert.Equal("/two", await RouteR1PathAsync());

        await SkipUnlessServedAsync("/v1/tenants/ui-yaml/audit");
        await tab.GoAsync("#/tenants/ui-yaml/audit");
        var entry = tab.Page.Locator("#audit tr[data-action='config.apply']").First;
        await Assertions.Expect(entry).ToContainTextAsync("/v1/tenants/ui-yaml/config");
        await entry.Locator("button").ClickAsync();
        await Assertions.Expect(tab.Page.Locator("[data-testid=audit-diff]").First).ToContainTextAsync("/two");
        await tab.ScreenshotAsync("audit");
        await tab.Page.Locator("[data-testid=rollback]").First.ClickAsync();
        await Assertions.Expect(tab.Page.Locator("[data-testid=diff]").First).ToContainTextAsync("/one");
        await tab.Page.Locator("[data-testid=rollback-confirm]").First.ClickAsync();
        await Assertions.Expect(tab.Page.Locator("[data-testid=rollback-done]")).ToBeVisibleAsync();
        Assert.Equal("/one", await RouteR1PathAsync());
        Assert.Empty(tab.Errors);
    }

    private async Task<string> RouteR1PathAsync()
    {
        using var route = await fixture.Platform.Admin.GetAsync("/v1/tenants/ui-yaml/routes/r1");
        return JsonNode.Parse(await route.Content.ReadAsStringAsync())!["match"]!["pathPrefix"]!.GetValue<string>();
    }

    [GeneratedRegex("<script type=\"module\" src=\"(?<path>/ui/assets/[0-9a-f]+/app\\.js)\"")]
    private static partial Regex AppScript();
}

internal static class ConsoleFixtureTraffic
{
    public static Task SendAsync(Worker worker, string path, int status, int count) =>
        MetricsFixture.SendAsync(worker, "ui-acme.test", path, status, count);
}
