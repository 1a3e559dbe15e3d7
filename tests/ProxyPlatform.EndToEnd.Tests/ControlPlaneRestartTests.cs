using System.Net;
using ProxyPlatform.EndToEnd.Tests.Infrastructure;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests;

public sealed class ControlPlaneRestartTests
{
    [Fact]
    public async Task Killing_the_control_plane_loses_nothing_and_the_worker_resyncs_after_the_restart()
    {
        await using var platform = await Platform.StartAsync("restart");
        var worker = platform.Workers[0];
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await platform.CreateServiceAsync("crash", "crash.test", [a, b], "/api", stripPrefix: true);
        (await worker.WaitForStatusAsync("crash.test", "/api/x", 200)).Dispose();

        await platform.KillControlPlaneAsync();

        // The worker keeps serving what it has while the control plane is gone.
        for (var i = 0; i < 4; i++)
            Assert.Equal("/x", (await worker.EchoAsync("crash.test", "/api/x")).Path);

        await platform.StartControlPlaneAsync();

        // Everything acknowledged before the crash is still there.
        using (var route = await platform.Admin.GetAsync("/v1/tenants/crash/routes/main"))
            Assert.Equal(HttpStatusCode.OK, route.StatusCode);
        using (var backends = await platform.Admin.GetAsync("/v1/tenants/crash/clusters/web/backends"))
        {
            var text = await backends.Content.ReadAsStringAsync();
            Assert.Contains(a.Address, text, StringComparison.Ordinal);
            Assert.Contains(b.Address, text, StringComparison.Ordinal);
        }

        // And the worker re-syncs: a route added after the restart is served.
        await platform.PutOkAsync("/v1/tenants/crash/routes/later", new { match = new { pathPrefix = "/later" }, cluster = "web" });
        (await worker.WaitForStatusAsync("crash.test", "/later/y", 200, TimeSpan.FromSeconds(30))).Dispose();
        Assert.Equal("/later/y", (await worker.EchoAsync("crash.test", "/later/y")).Path);
    }
}
