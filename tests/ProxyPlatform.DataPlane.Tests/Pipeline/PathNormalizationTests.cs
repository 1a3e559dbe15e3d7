using ProxyPlatform.DataPlane.Pipeline;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.RequestPathParts;

namespace ProxyPlatform.DataPlane.Tests.Pipeline;

public sealed class PathNormalizationTests
{
    [Theory]
    [InlineData("//admin", "/admin")]
    [InlineData("/api//v1///users", "/api/v1/users")]
    [InlineData("/./admin", "/admin")]
    [InlineData("/a/./b/.", "/a/b/")]
    [InlineData("/a/../b", "/b")]
    [InlineData("/static/../admin", "/admin")]
    [InlineData("/../../admin", "/admin")]
    [InlineData("/a/%2E%2E/admin", "/admin")]
    [InlineData("/a/%2e./admin", "/admin")]
    [InlineData("/a/%2E/b", "/a/b")]
    [InlineData("/a/...", "/a/...")]
    [InlineData("/a/.hidden/b", "/a/.hidden/b")]
    [InlineData("/a/b/..", "/a/")]
    [InlineData("/api/", "/api/")]
    [InlineData("/", "/")]
    [InlineData("//", "/")]
    [InlineData("/caf\u00e9/100%", "/caf\u00e9/100%")]
    public void A_path_is_matched_and_forwarded_in_its_normalised_form(string path, string expected)
    {
        Assert.Equal(expected, PathNormalization.Normalize(path, out var refusal));
        Assert.Null(refusal);
    }

    [Theory]
    [InlineData("/admin%2Fx")]
    [InlineData("/admin%2fx")]
    [InlineData("/static/..%2Fadmin")]
    [InlineData("/static/..%2fadmin")]
    [InlineData("/admin%5Cx")]
    [InlineData("/admin%5cx")]
    [InlineData("/admin\\x")]
    public void A_path_with_an_encoded_slash_or_backslash_is_refused(string path)
    {
        Assert.Null(PathNormalization.Normalize(path, out var refusal));
        Assert.NotNull(refusal);
    }

    [Fact]
    public void A_plain_path_is_left_as_it_is_without_allocating()
    {
        const string path = "/api/v1/users/42";

        Assert.Same(path, PathNormalization.Normalize(path, out _));
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
            PathNormalization.Normalize(path, out _);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Fact]
    public async Task A_refused_path_is_answered_400_bad_path_as_problem_json()
    {
        var context = Request("GET", "/static/..%2Fadmin");

        Assert.False(PathNormalization.TryNormalize(context.Request, out var refusal));

        await refusal.WriteAsync(context);
        Assert.Equal(400, context.Response.StatusCode);
        Assert.Equal("bad-path", ProblemType(context));
    }

    [Fact]
    public void The_request_carries_the_normalised_path_on()
    {
        var context = Request("GET", "//a/../admin");

        Assert.True(PathNormalization.TryNormalize(context.Request, out _));

        Assert.Equal("/admin", context.Request.Path.Value);
    }
}
