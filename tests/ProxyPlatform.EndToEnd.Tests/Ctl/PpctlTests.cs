using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using ProxyPlatform.Ctl;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Ctl;

/// <summary>A control plane (pools recorded, no worker processes started for them) and one worker, for the ppctl tests; each test uses its own tenant.</summary>
public sealed class PpctlFixture : IAsyncLifetime
{
    public Platform Platform { get; private set; } = null!;
    public Worker Worker => Platform.Workers[0];

    public async ValueTask InitializeAsync() =>
        Platform = await Platform.StartAsync("ppctl", workers: 1, silos: 1, "--Scaling:Provider=None");

    public async ValueTask DisposeAsync()
    {
        if (Platform is not null)
            await Platform.DisposeAsync();
    }

    /// <summary>A user whose environment points ppctl at this control plane with the operator key.</summary>
    public PpctlUser Operator() => new(Platform.AdminUrl, Platform.OperatorKey);
}

/// <summary>
/// ppctl (issue 16) driven as a user would: each test runs the built tool's entry point with a console and
/// an environment of its own, against a real control plane and worker, and checks what it printed, its exit
/// code, and what the control plane then holds.
/// </summary>
public sealed partial class PpctlTests(PpctlFixture fixture) : IClassFixture<PpctlFixture>
{
    private Platform Platform => fixture.Platform;

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Login_checks_the_key_and_keeps_it_in_a_file_only_its_owner_can_read()
    {
        using var user = new PpctlUser();
        var login = await user.RunAsync("login", "--url", Platform.AdminUrl, "--key", Platform.OperatorKey);
        Assert.True(login.ExitCode == ExitCodes.Ok, login.ToString());

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(user.LoginFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(user.LoginFile)!));
        var saved = JsonNode.Parse(File.ReadAllText(user.LoginFile))!;
        Assert.Equal(Platform.OperatorKey, saved["key"]!.GetValue<string>());

        // The next command finds the control plane through the file alone.
        await Platform.PutTenantAsync("ctl-login", "login.ctl.test");
        var get = await user.RunAsync("get", "tenants", "-o", "json");
        Assert.True(get.ExitCode == ExitCodes.Ok, get.ToString());
        Assert.Contains(JsonNode.Parse(get.Out)!.AsArray(), t => t!["id"]!.GetValue<string>() == "ctl-login");

        // A file left readable by others is replaced by one that is not.
        File.SetUnixFileMode(user.LoginFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var again = await user.RunWithInputAsync(Platform.OperatorKey + "\n", "login", "--url", Platform.AdminUrl, "--key", "-");
        Assert.True(again.ExitCode == ExitCodes.Ok, again.ToString());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(user.LoginFile));
    }

    [Fact]
    public async Task Login_with_a_key_the_control_plane_refuses_exits_1_and_keeps_nothing()
    {
        using var user = new PpctlUser();
        var login = await user.RunAsync("login", "--url", Platform.AdminUrl, "--key", "ppk_not-a-key");
        Assert.True(login.ExitCode == ExitCodes.Failure, login.ToString());
        Assert.StartsWith("Error: ", login.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(user.LoginFile));
        NoStackTrace(login);
    }

    [Fact]
    public async Task The_environment_overrides_the_login_file()
    {
        using var user = new PpctlUser();
        Assert.Equal(ExitCodes.Ok, (await user.RunAsync("login", "--url", Platform.AdminUrl, "--key", Platform.OperatorKey)).ExitCode);
        using var other = new PpctlUser(Platform.AdminUrl, "ppk_wrong");
        File.Copy(user.LoginFile, Directory.CreateDirectory(Path.GetDirectoryName(other.LoginFile)!).FullName + "/config.json");
        var refused = await other.RunAsync("get", "tenants");
        Assert.True(refused.ExitCode == ExitCodes.Failure, refused.ToString());
    }

    [Fact]
    public async Task Get_answers_scripts_in_json_and_yaml_and_people_in_a_table()
    {
        await Platform.PutTenantAsync("ctl-get", "get.ctl.test");
        await Platform.PutClusterAsync("ctl-get", "web", new { loadBalancing = "RoundRobin" }, ("a", "http://127.0.0.1:9", 1));
        await Platform.PutOkAsync("/v1/tenants/ctl-get/routes/api", new { match = new { pathPrefix = "/api" }, cluster = "web" });
        await Platform.PutOkAsync("/v1/tenants/ctl-get/routes/main", new { match = new { pathPrefix = "/" }, cluster = "web" });
        using var user = fixture.Operator();

        var json = await user.RunAsync("get", "routes", "--tenant", "ctl-get", "-o", "json");
        Assert.True(json.ExitCode == ExitCodes.Ok, json.ToString());
        var routes = JsonNode.Parse(json.Out)!.AsArray();
        Assert.Equal(["api", "main"], routes.Select(r => r!["id"]!.GetValue<string>()).Order());
        Assert.Equal("/api", routes.Single(r => r!["id"]!.GetValue<string>() == "api")!["match"]!["pathPrefix"]!.GetValue<string>());

        var yaml = await user.RunAsync("get", "routes", "--tenant", "ctl-get", "-o", "yaml");
        Assert.True(yaml.ExitCode == ExitCodes.Ok, yaml.ToString());
        Assert.True(JsonNode.DeepEquals(routes, ProxyPlatform.Ctl.Documents.YamlJson.Parse(yaml.Out, "stdout")), yaml.Out);

        var table = await user.RunAsync("get", "backends", "--tenant", "ctl-get", "--cluster", "web");
        Assert.True(table.ExitCode == ExitCodes.Ok, table.ToString());
        var lines = table.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("ID", lines[0], StringComparison.Ordinal);
        Assert.Contains("VERDICT", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^a\s+http://127\.0\.0\.1:9\s+1\s+true\s+", lines[1]);

        var one = await user.RunAsync("get", "routes", "api", "--tenant", "ctl-get", "-o", "json");
        Assert.Equal("api", JsonNode.Parse(one.Out)!["id"]!.GetValue<string>());

        foreach (var kind in new[] { "tenants", "dataplanes", "pools", "keys" })
        {
            var list = await user.RunAsync("get", kind, "-o", "json");
            Assert.True(list.ExitCode == ExitCodes.Ok, list.ToString());
            Assert.IsType<JsonArray>(JsonNode.Parse(list.Out));
        }
        var workers = JsonNode.Parse((await user.RunAsync("get", "dataplanes", "-o", "json")).Out)!.AsArray();
        Assert.Contains(workers, w => w!["id"]!.GetValue<string>() == fixture.Worker.Id);
    }

    [Fact]
    public async Task Scale_sets_a_pools_replicas_and_leaves_its_limits_alone()
    {
        await Platform.PutOkAsync("/v1/pools/ctl-scale", new { replicas = 1, limits = new { maxRequestBodyBytes = 1048576 } });
        using var user = fixture.Operator();

        var scale = await user.RunAsync("scale", "ctl-scale", "3");
        Assert.True(scale.ExitCode == ExitCodes.Ok, scale.ToString());
        Assert.Contains("replicas 3", scale.Out, StringComparison.Ordinal);

        var pool = JsonNode.Parse((await user.RunAsync("get", "pools", "ctl-scale", "-o", "json")).Out)!;
        Assert.Equal(3, pool["replicas"]!.GetValue<int>());
        Assert.Equal(1048576, pool["limits"]!["maxRequestBodyBytes"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_key_created_with_ppctl_works_is_listed_without_its_secret_and_stops_working_when_revoked()
    {
        await Platform.PutTenantAsync("ctl-keys", "keys.ctl.test");
        using var user = fixture.Operator();

        var created = await user.RunAsync("keys", "create", "--name", "ci viewer", "--role", "tenant-viewer", "--tenant", "ctl-keys", "-o", "json");
        Assert.True(created.ExitCode == ExitCodes.Ok, created.ToString());
        var key = JsonNode.Parse(created.Out)!;
        var id = key["id"]!.GetValue<string>();
        var secret = key["secret"]!.GetValue<string>();
        using var viewer = Platform.Silos[0].Client(secret);
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync("/v1/tenants/ctl-keys")).StatusCode);

        var people = await user.RunAsync("keys", "create", "--name", "people", "--role", "tenant-viewer", "--tenant", "ctl-keys");
        Assert.Contains("Secret (shown this once): ppk_", people.Out, StringComparison.Ordinal);

        var list = await user.RunAsync("keys", "list", "--tenant", "ctl-keys", "-o", "json");
        Assert.True(list.ExitCode == ExitCodes.Ok, list.ToString());
        var listed = JsonNode.Parse(list.Out)!.AsArray();
        Assert.Contains(listed, k => k!["id"]!.GetValue<string>() == id && k["name"]!.GetValue<string>() == "ci viewer");
        Assert.DoesNotContain(secret, list.Out, StringComparison.Ordinal);

        var revoke = await user.RunAsync("keys", "revoke", id);
        Assert.True(revoke.ExitCode == ExitCodes.Ok, revoke.ToString());
        await Eventually.Async(async () => (await viewer.GetAsync("/v1/tenants/ctl-keys")).StatusCode == HttpStatusCode.Unauthorized,
            null, () => "the revoked key is still accepted");
        var after = JsonNode.Parse((await user.RunAsync("keys", "list", "--tenant", "ctl-keys", "-o", "json")).Out)!.AsArray();
        Assert.NotNull(after.Single(k => k!["id"]!.GetValue<string>() == id)!["revokedAt"]);
    }

    [Fact]
    public async Task Wait_returns_once_every_worker_has_applied_the_revision()
    {
        await Platform.PutTenantAsync("ctl-wait", "wait.ctl.test");
        await Platform.PutClusterAsync("ctl-wait", "web", new { }, ("a", "http://127.0.0.1:9", 1));
        var revision = await Platform.PutOkAsync("/v1/tenants/ctl-wait/routes/main", new { match = new { pathPrefix = "/" }, cluster = "web" });
        using var user = fixture.Operator();

        var wait = await user.RunAsync("wait", revision.ToString(System.Globalization.CultureInfo.InvariantCulture), "--timeout", "120s");
        Assert.True(wait.ExitCode == ExitCodes.Ok, wait.ToString());
        Assert.Contains($"Revision {revision} is applied by every worker", wait.Out, StringComparison.Ordinal);
        // What ppctl said is so: the worker has the revision.
        var stats = await fixture.Worker.WaitForRevisionAsync(revision, TimeSpan.FromSeconds(1));
        Assert.True(stats.AppliedRevision >= revision);

        var json = JsonNode.Parse((await user.RunAsync("wait", revision.ToString(System.Globalization.CultureInfo.InvariantCulture), "-o", "json")).Out)!;
        Assert.True(json["complete"]!.GetValue<bool>());
        Assert.Contains(json["workers"]!.AsArray(), w => w!["id"]!.GetValue<string>() == fixture.Worker.Id && w["applied"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Explain_prints_the_winner_why_the_others_lost_the_backend_path_the_next_pick_and_the_limits()
    {
        await using var a = await TestBackend.StartAsync("a");
        await Platform.PutTenantAsync("ctl-explain", "explain.ctl.test");
        await Platform.PutClusterAsync("ctl-explain", "web", new { loadBalancing = "RoundRobin" }, ("a", a.Address, 1));
        await Platform.PutOkAsync("/v1/tenants/ctl-explain/routes/main", new { match = new { pathPrefix = "/" }, cluster = "web" });
        var revision = await Platform.PutOkAsync("/v1/tenants/ctl-explain/routes/api",
            new { match = new { pathPrefix = "/api" }, cluster = "web", stripPrefix = true, timeoutSeconds = 7, rateLimit = new { requestsPerSecond = 50, burst = 100, key = "client-ip" } });
        using var user = fixture.Operator();

        var explain = await user.RunAsync("explain", "--tenant", "ctl-explain", "--method", "GET", "--host", "explain.ctl.test", "--path", "/api/orders");
        Assert.True(explain.ExitCode == ExitCodes.Ok, explain.ToString());
        var text = explain.Out;
        Assert.Contains("Route:        api", text, StringComparison.Ordinal);
        Assert.Matches(@"\n\*\s+api\s", text);
        Assert.Matches(@"\n\s+main\s.*less-specific-path", text);
        Assert.Contains("Backend path: /orders", text, StringComparison.Ordinal);
        Assert.Contains("Cluster:      web (RoundRobin)", text, StringComparison.Ordinal);
        Assert.Contains("Next pick:    a", text, StringComparison.Ordinal);
        Assert.Contains("rate:       50/s, burst 100, per client-ip", text, StringComparison.Ordinal);
        Assert.Contains("timeout:    7 s", text, StringComparison.Ordinal);

        var json = JsonNode.Parse((await user.RunAsync("explain", "-t", "ctl-explain", "--host", "explain.ctl.test", "--path", "/api/orders", "-o", "json")).Out)!;
        Assert.Equal("api", json["route"]!.GetValue<string>());
        Assert.Equal("/orders", json["backendPath"]!.GetValue<string>());

        // Asked of the worker, about what it has applied.
        await fixture.Worker.WaitForRevisionAsync(revision);
        var onWorker = JsonNode.Parse((await user.RunAsync("explain", "-t", "ctl-explain", "--host", "explain.ctl.test", "--path", "/api/orders", "--worker", fixture.Worker.Id, "-o", "json")).Out)!;
        Assert.Equal("worker", onWorker["source"]!.GetValue<string>());
        Assert.Equal("api", onWorker["route"]!.GetValue<string>());
        var people = await user.RunAsync("explain", "-t", "ctl-explain", "--host", "explain.ctl.test", "--path", "/api/orders", "--worker", fixture.Worker.Id);
        Assert.Contains($"Answered by:  worker {fixture.Worker.Id}", people.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refusal_exits_1_with_the_problems_title_detail_and_field_and_no_stack_trace()
    {
        using var user = fixture.Operator();

        var missing = await user.RunAsync("get", "routes", "--tenant", "ctl-no-such-tenant");
        Assert.True(missing.ExitCode == ExitCodes.Failure, missing.ToString());
        Assert.StartsWith("Error: Not found: ", missing.Error, StringComparison.Ordinal);
        Assert.Contains("ctl-no-such-tenant", missing.Error, StringComparison.Ordinal);
        Assert.Empty(missing.Out);
        NoStackTrace(missing);

        var invalid = await user.RunAsync("keys", "create", "--name", "x", "--role", "tenant-viewer");
        Assert.True(invalid.ExitCode == ExitCodes.Failure, invalid.ToString());
        Assert.StartsWith("Error: The request is not valid: ", invalid.Error, StringComparison.Ordinal);
        Assert.Contains("  field: tenant", invalid.Error, StringComparison.Ordinal);
        NoStackTrace(invalid);

        using var unreachable = new PpctlUser("http://127.0.0.1:1", "ppk_x");
        var down = await unreachable.RunAsync("get", "tenants");
        Assert.True(down.ExitCode == ExitCodes.Failure, down.ToString());
        Assert.Contains("cannot reach the control plane", down.Error, StringComparison.Ordinal);
        NoStackTrace(down);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("get")]
    [InlineData("get", "routes")]
    [InlineData("get", "widgets")]
    [InlineData("get", "tenants", "-o", "xml")]
    [InlineData("scale", "default", "many")]
    [InlineData("scale", "default", "-1")]
    [InlineData("wait", "0")]
    [InlineData("wait", "5", "--timeout", "soon")]
    [InlineData("explain", "--tenant", "t")]
    [InlineData("rollback", "--tenant", "t")]
    [InlineData("apply")]
    [InlineData("apply", "-f", "/no/such/file.yaml")]
    public async Task A_wrong_command_line_exits_2_and_says_what_is_wrong(params string[] args)
    {
        using var user = fixture.Operator();
        var run = await user.RunAsync(args);
        Assert.True(run.ExitCode == ExitCodes.Usage, run.ToString());
        Assert.StartsWith("ppctl: ", run.Error, StringComparison.Ordinal);
        NoStackTrace(run);
    }

    private static void NoStackTrace(PpctlResult run)
    {
        Assert.DoesNotContain("   at ", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", run.Error, StringComparison.Ordinal);
    }
}
