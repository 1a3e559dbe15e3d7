using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using ProxyPlatform.EndToEnd.Tests.Metrics;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.WebConsole;

/// <summary>
/// One platform for the console tests: a control plane, a worker that reports traffic every second,
/// two counting backends, and headless Chromium from Debian's <c>chromium</c> package driven by
/// Playwright (never a downloaded browser). Tenants: <c>ui-acme</c> (cluster <c>web</c> with backends
/// a and b, routes <c>api</c> and <c>site</c>), <c>ui-other</c>, and <c>ui-yaml</c> for the
/// configuration and audit tests; a tenant-admin key of <c>ui-acme</c>.
/// </summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";

    public Platform Platform { get; private set; } = null!;
    public Worker Worker { get; private set; } = null!;
    public CountingBackend A { get; private set; } = null!;
    public CountingBackend B { get; private set; } = null!;
    public string AcmeKey { get; private set; } = "";
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(Chromium))
            throw new InvalidOperationException($"The console tests need Debian's chromium at {Chromium} (apt-get install chromium; infra/test.sh installs it when it runs as root).");
        A = await CountingBackend.StartAsync("a");
        B = await CountingBackend.StartAsync("b");
        Platform = await Platform.StartAsync("console", workers: 0);
        Worker = await Platform.StartWorkerAsync("console-1", 0, "--DataPlane:MetricsIntervalSeconds=1");

        await Platform.PutOkAsync("/v1/tenants/ui-acme", new { displayName = "Acme", hostnames = new[] { "ui-acme.test" } });
        await Platform.PutOkAsync("/v1/tenants/ui-acme/clusters/web", new { loadBalancing = "RoundRobin" });
        await Platform.PutOkAsync("/v1/tenants/ui-acme/clusters/web/backends/a", new { address = A.Address });
        await Platform.PutOkAsync("/v1/tenants/ui-acme/clusters/web/backends/b", new { address = B.Address });
        await Platform.PutOkAsync("/v1/tenants/ui-acme/routes/api", new { match = new { pathPrefix = "/api" }, cluster = "web", rateLimit = new { requestsPerSecond = 1000, burst = 2000 } });
        await Platform.PutOkAsync("/v1/tenants/ui-acme/routes/site", new { match = new { pathPrefix = "/" }, cluster = "web", stripPrefix = true });
        await Platform.PutOkAsync("/v1/tenants/ui-other", new { displayName = "Other", hostnames = new[] { "ui-other.test" } });
        await Platform.PutOkAsync("/v1/tenants/ui-other/clusters/secret-cluster", new { });
        await Platform.PutOkAsync("/v1/tenants/ui-yaml", new { displayName = "Yaml", hostnames = new[] { "ui-yaml.test" } });
        await Platform.PutOkAsync("/v1/tenants/ui-yaml/clusters/web", new { });
        await Platform.PutOkAsync("/v1/tenants/ui-yaml/clusters/web/backends/a", new { address = A.Address });
        var revision = await Platform.PutOkAsync("/v1/tenants/ui-yaml/routes/r1", new { match = new { pathPrefix = "/one" }, cluster = "web" });
        await Worker.WaitForRevisionAsync(revision);
        AcmeKey = await CreateKeyAsync("acme-admin", "tenant-admin", "ui-acme");

        // The machine is shared and slow at times: a page gets time to answer, as every test here does.
        Assertions.SetDefaultExpectTimeout(30_000);
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // Root in a container: Chromium's sandbox needs user namespaces it may not have.
            Args = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        });
    }

    public async Task<string> CreateKeyAsync(string name, string role, string? tenant)
    {
        var body = JsonSerializer.Serialize(new { name, role, tenant });
        using var response = await Platform.Admin.PostAsync("/v1/keys", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"POST /v1/keys answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!["secret"]!.GetValue<string>();
    }

    public string ConsoleUrl => $"{Platform.AdminUrl}/ui";

    /// <summary>A fresh browser tab (own session storage) at 1,280 px, or a phone's size, recording console errors.</summary>
    public async Task<ConsoleTab> OpenAsync(bool phone = false)
    {
        var context = await Browser.NewContextAsync(phone
            ? new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 390, Height = 844 }, DeviceScaleFactor = 2, IsMobile = true, HasTouch = true }
            : new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 860 } });
        context.SetDefaultTimeout(60_000);
        context.SetDefaultNavigationTimeout(60_000);
        var page = await context.NewPageAsync();
        var tab = new ConsoleTab(this, context, page);
        page.Console += (_, message) =>
        {
            // The API's own 401/403/404 answers are the browser's network log, not the page's errors.
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource", StringComparison.Ordinal))
                tab.Errors.Add(message.Text);
        };
        page.PageError += (_, error) => tab.Errors.Add(error);
        return tab;
    }

    /// <summary>Where screenshots go: docs/ui of the repository when PROXYPLATFORM_UI_SCREENSHOTS=1, else a temporary folder.</summary>
    public static string ScreenshotDirectory()
    {
        if (Environment.GetEnvironmentVariable("PROXYPLATFORM_UI_SCREENSHOTS") == "1")
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "ProxyPlatform.sln")))
                    return Directory.CreateDirectory(Path.Combine(dir.FullName, "docs", "ui")).FullName;
        }
        return Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "proxyplatform-ui-screenshots")).FullName;
    }

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null)
            await Browser.DisposeAsync();
        Playwright?.Dispose();
        if (Platform is not null)
            await Platform.DisposeAsync();
        if (A is not null)
            await A.DisposeAsync();
        if (B is not null)
            await B.DisposeAsync();
    }
}

public sealed class ConsoleTab(ConsoleFixture fixture, IBrowserContext context, IPage page) : IAsyncDisposable
{
    public IPage Page { get; } = page;
    public List<string> Errors { get; } = [];

    /// <summary>Opens <c>/ui</c>, logs in with <paramref name="key"/>, and waits for the tenants page.</summary>
    public async Task<IResponse> LogInAsync(string key)
    {
        var response = await Page.GotoAsync(fixture.ConsoleUrl);
        await Page.FillAsync("#key", key);
        await Page.ClickAsync("#login button[type=submit]");
        await Page.WaitForSelectorAsync("#tenants");
        return response!;
    }

    public Task GoAsync(string hash) => Page.EvaluateAsync("h => { location.hash = h; }", hash);

    public Task ScreenshotAsync(string name) =>
        Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ConsoleFixture.ScreenshotDirectory(), name + ".png"), FullPage = true });

    public async ValueTask DisposeAsync() => await context.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleFixture>
{
    public const string Name = "console";
}
