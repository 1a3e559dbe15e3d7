using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using ProxyPlatform.Ctl;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Ctl;

/// <summary>
/// apply, diff and rollback: a tenant's configuration kept in a file (YAML or JSON) and made so on the
/// control plane and its workers. They need <c>PUT /v1/tenants/{t}/config</c> and <c>POST .../rollback</c>;
/// against a control plane without them (404), they are skipped, saying so.
/// </summary>
public sealed partial class PpctlTests
{
    private const string TenantYaml = """
        # The whole configuration of tenant ctl-apply, as ppctl apply takes it.
        tenant: ctl-apply
        clusters:
          web:
            loadBalancing: RoundRobin
            backends:
              a:
                address: "{0}"
                weight: 1
        routes:
          main:
            match:
              pathPrefix: /
            cluster: web
          api:
            match:
              pathPrefix: /api
              methods: [GET]
            cluster: web
            stripPrefix: true
        """;

    [Fact]
    public async Task A_tenant_kept_in_a_yaml_file_is_diffed_applied_changed_and_rolled_back_with_ppctl()
    {
        await using var a = await TestBackend.StartAsync("a");
        await Platform.PutTenantAsync("ctl-apply", "apply.ctl.test");
        await SkipUnlessConfigDocumentsAsync("ctl-apply");
        using var user = fixture.Operator();
        var file = user.File("ctl-apply.yaml", string.Format(CultureInfo.InvariantCulture, TenantYaml, a.Address));

        // Nothing there yet: the diff shows everything as added, and --exit-code says so with 3.
        var diff = await user.RunAsync("diff", "-f", file, "--exit-code");
        Assert.True(diff.ExitCode == ExitCodes.DiffFound, diff.ToString());
        Assert.Contains("+ cluster web", diff.Out, StringComparison.Ordinal);
        Assert.Contains("+ backend web/a", diff.Out, StringComparison.Ordinal);
        Assert.Contains("+ route main", diff.Out, StringComparison.Ordinal);
        Assert.Contains("+ route api", diff.Out, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Ok, (await user.RunAsync("diff", "-f", file)).ExitCode);

        // A dry run changes nothing.
        var dry = await user.RunAsync("apply", "-f", file, "--dry-run");
        Assert.True(dry.ExitCode == ExitCodes.Ok, dry.ToString());
        Assert.Empty(await RoutesAsync(user, "ctl-apply"));

        var apply = await user.RunAsync("apply", "-f", file);
        Assert.True(apply.ExitCode == ExitCodes.Ok, apply.ToString());
        var applied = System.Text.RegularExpressions.Regex.Match(apply.Out, @"Tenant ctl-apply: applied at revision (\d+)\.");
        Assert.True(applied.Success, apply.ToString());
        var first = long.Parse(applied.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Equal(["api", "main"], (await RoutesAsync(user, "ctl-apply")).Order());
        Assert.Equal(ExitCodes.Ok, (await user.RunAsync("wait", first.ToString(CultureInfo.InvariantCulture), "--timeout", "120s")).ExitCode);
        Assert.Equal("a", (await fixture.Worker.EchoAsync("apply.ctl.test", "/api/x")).Backend);

        // Applied: the same file is no difference, and applying it again makes no revision.
        var same = await user.RunAsync("diff", "-f", file, "--exit-code");
        Assert.True(same.ExitCode == ExitCodes.Ok, same.ToString());
        Assert.Contains("0 added, 0 changed, 0 removed", same.Out, StringComparison.Ordinal);
        var again = await user.RunAsync("apply", "-f", file);
        Assert.Contains("no new revision", again.Out, StringComparison.Ordinal);

        Assert.True(JsonNode.Parse((await user.RunAsync("diff", "-f", file, "-o", "json")).Out)!["unchanged"]!.GetValue<bool>());

        // What get config prints (YAML) is a file apply takes back as it is: no difference.
        var exported = await user.RunAsync("get", "config", "--tenant", "ctl-apply");
        Assert.True(exported.ExitCode == ExitCodes.Ok, exported.ToString());
        var exportedFile = user.File("exported.yaml", exported.Out);
        var roundTrip = await user.RunAsync("diff", "-f", exportedFile, "--exit-code");
        Assert.True(roundTrip.ExitCode == ExitCodes.Ok, roundTrip.ToString());

        // The file changes (as JSON this time): one route moves, one goes.
        var json = ProxyPlatform.Ctl.Documents.YamlJson.Parse(File.ReadAllText(file), file)!;
        json["routes"]!["main"]!["match"]!["pathPrefix"] = "/v2";
        json["routes"]!.AsObject().Remove("api");
        var jsonFile = user.File("ctl-apply.json", json.ToJsonString());
        var diff2 = await user.RunAsync("diff", "-f", jsonFile, "--exit-code");
        Assert.True(diff2.ExitCode == ExitCodes.DiffFound, diff2.ToString());
        Assert.Contains("~ route main", diff2.Out, StringComparison.Ordinal);
        Assert.Contains("match.pathPrefix", diff2.Out, StringComparison.Ordinal);
        Assert.Contains("- route api", diff2.Out, StringComparison.Ordinal);
        var second = await user.RunAsync("apply", "-f", jsonFile, "-o", "json");
        Assert.True(second.ExitCode == ExitCodes.Ok, second.ToString());
        var secondRevision = JsonNode.Parse(second.Out)!["revision"]!.GetValue<long>();
        Assert.Equal(["main"], await RoutesAsync(user, "ctl-apply"));

        // Rolled back to the first apply: both routes as they were, as a new revision.
        var rollback = await user.RunAsync("rollback", "--tenant", "ctl-apply", "--revision", first.ToString(CultureInfo.InvariantCulture), "-o", "json");
        Assert.True(rollback.ExitCode == ExitCodes.Ok, rollback.ToString());
        var restored = JsonNode.Parse(rollback.Out)!["revision"]!.GetValue<long>();
        Assert.True(restored > first);
        Assert.Equal(["api", "main"], (await RoutesAsync(user, "ctl-apply")).Order());
        var main = JsonNode.Parse((await user.RunAsync("get", "routes", "main", "-t", "ctl-apply", "-o", "json")).Out)!;
        Assert.Equal("/", main["match"]!["pathPrefix"]!.GetValue<string>());
        Assert.Equal(ExitCodes.Ok, (await user.RunAsync("diff", "-f", file, "--exit-code")).ExitCode);

        // History: the configuration as of the second apply, as a document.
        var old = await user.RunAsync("get", "config", "-t", "ctl-apply", "--revision", secondRevision.ToString(CultureInfo.InvariantCulture), "-o", "json");
        Assert.True(old.ExitCode == ExitCodes.Ok, old.ToString());
        Assert.Equal("/v2", JsonNode.Parse(old.Out)!["routes"]!["main"]!["match"]!["pathPrefix"]!.GetValue<string>());
    }

    [Fact]
    public async Task Apply_of_a_file_for_another_tenant_or_for_none_is_a_usage_error()
    {
        using var user = fixture.Operator();
        var file = user.File("other.yaml", "tenant: someone-else\nroutes: {}\n");
        var mismatch = await user.RunAsync("apply", "-f", file, "--tenant", "ctl-apply");
        Assert.True(mismatch.ExitCode == ExitCodes.Usage, mismatch.ToString());
        Assert.Contains("someone-else", mismatch.Error, StringComparison.Ordinal);

        var none = await user.RunAsync("diff", "-f", user.File("none.yaml", "routes: {}\n"));
        Assert.True(none.ExitCode == ExitCodes.Usage, none.ToString());
        Assert.Contains("names no tenant", none.Error, StringComparison.Ordinal);

        var broken = await user.RunAsync("apply", "-f", user.File("broken.yaml", "tenant: [unclosed\n"));
        Assert.True(broken.ExitCode == ExitCodes.Usage, broken.ToString());
        Assert.Contains("not valid YAML", broken.Error, StringComparison.Ordinal);
    }

    private static async Task<string[]> RoutesAsync(PpctlUser user, string tenant)
    {
        var run = await user.RunAsync("get", "routes", "--tenant", tenant, "-o", "json");
        Assert.True(run.ExitCode == ExitCodes.Ok, run.ToString());
        return [.. JsonNode.Parse(run.Out)!.AsArray().Select(r => r!["id"]!.GetValue<string>())];
    }

    /// <summary>Skips the test when this control plane has no configuration documents yet (the endpoint answers 404 or 405 for an existing tenant).</summary>
    private async Task SkipUnlessConfigDocumentsAsync(string tenant)
    {
        using var response = await Platform.Admin.GetAsync($"/v1/tenants/{tenant}/config");
        Assert.SkipWhen(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed,
            "this control plane has no GET/PUT /v1/tenants/{t}/config yet (branch configdoc)");
    }
}
