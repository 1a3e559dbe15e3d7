using System.Net;
using System.Text.Json.Nodes;
using Npgsql;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests;

/// <summary>
/// A write whose caller was answered 503 ("nothing was acknowledged") must not be committed later
/// when the database recovers (issue 18, part 3): its commit has a deadline, and is dropped or
/// cancelled once it passes.
/// </summary>
public sealed class CommitDeadlineTests
{
    [Fact]
    public async Task A_write_answered_503_because_its_commit_could_not_run_is_never_committed_afterwards()
    {
        await using var platform = await Platform.StartAsync("deadline", workers: 0);
        await platform.PutOkAsync("/v1/pools/stuck", new { });
        await platform.PutOkAsync("/v1/tenants/stuck", new { hostnames = new[] { "stuck.test" }, pool = "stuck" });
        await platform.PutOkAsync("/v1/tenants/stuck/clusters/web", new { });

        // The pool's commits queue behind its advisory lock, held here as a database that stopped
        // answering would hold them (the lock is the pool's own: no other test waits on it).
        await using var db = NpgsqlDataSource.Create(platform.ConnectionString);
        await using var connection = await db.OpenConnectionAsync(TestContext.Current.CancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(TestContext.Current.CancellationToken);
        await using (var hold = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('config-pool:' || $1))", connection, transaction))
        {
            hold.Parameters.AddWithValue("stuck");
            await hold.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }
        // One write whose commit waits on the lock, and one queued behind it.
        var late = platform.PutAsync("/v1/tenants/stuck/routes/late", new { match = new { pathPrefix = "/late" }, cluster = "web" });
        var queued = platform.Silos[0].PutAsync("/v1/tenants/stuck/routes/queued", new { match = new { pathPrefix = "/queued" }, cluster = "web" });
        foreach (var answer in await Task.WhenAll(late, queued))
        {
            using (answer)
            {
                var body = await answer.Content.ReadAsStringAsync();
                Assert.True(answer.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)answer.StatusCode}: {body}");
                Assert.Equal("application/problem+json", answer.Content.Headers.ContentType?.MediaType);
                Assert.NotNull(answer.Headers.RetryAfter);
            }
        }

        // The database recovers; the pool's next write commits, after anything still pending before it.
        await transaction.RollbackAsync(TestContext.Current.CancellationToken);
        await platform.PutOkAsync("/v1/tenants/stuck/routes/after", new { match = new { pathPrefix = "/after" }, cluster = "web" });
        foreach (var route in new[] { "late", "queued" })
        {
            using var absent = await platform.Admin.GetAsync($"/v1/tenants/stuck/routes/{route}");
            Assert.True(absent.StatusCode == HttpStatusCode.NotFound, $"route '{route}', answered 503, was committed after all");
        }
        var routes = JsonNode.Parse(await platform.Admin.GetStringAsync("/v1/tenants/stuck/routes"))!["items"]!.AsArray();
        Assert.Equal(["after"], routes.Select(r => r!["id"]!.GetValue<string>()));
    }
}
