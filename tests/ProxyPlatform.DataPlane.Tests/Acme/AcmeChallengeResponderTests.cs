using Microsoft.AspNetCore.Http;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Acme;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.Protos.DataPlane;
using static ProxyPlatform.DataPlane.Tests.Infrastructure.Resources;

namespace ProxyPlatform.DataPlane.Tests.Acme;

/// <summary>The worker answers an HTTP-01 challenge for the host it was issued for, from the applied configuration only.</summary>
public sealed class AcmeChallengeResponderTests
{
    private static readonly ConfigSnapshot WithChallenge = Applied(Snapshot(3, Json(ResourceType.AcmeChallenge, "acme", "site", ConfigJson.Write(new AcmeChallengeSpec
    {
        Challenges = [new AcmeHttpChallenge { Host = "www.acme.test", Token = "tok-EN_1", KeyAuthorization = "tok-EN_1.thumb" }],
    }))));

    [Theory]
    [InlineData("GET", "WWW.acme.test", "/.well-known/acme-challenge/tok-EN_1", "tok-EN_1.thumb")]
    [InlineData("GET", "api.acme.test", "/.well-known/acme-challenge/tok-EN_1", null)]
    [InlineData("GET", "www.acme.test", "/.well-known/acme-challenge/other", null)]
    [InlineData("POST", "www.acme.test", "/.well-known/acme-challenge/tok-EN_1", null)]
    [InlineData("GET", "www.acme.test", "/tok-EN_1", null)]
    public void A_challenge_is_answered_for_its_host_and_token_only(string method, string host, string path, string? expected)
    {
        var request = new DefaultHttpContext().Request;
        request.Method = method;
        request.Host = new HostString(host);
        request.Path = path;

        Assert.Equal(expected, AcmeChallengeResponder.Find(WithChallenge, request));
        Assert.Null(AcmeChallengeResponder.Find(ConfigSnapshot.Empty, request));
    }

    private static ConfigSnapshot Applied(ConfigUpdate update)
    {
        var next = ConfigSnapshot.Empty.Apply(update, out var rejected);
        Assert.Empty(rejected);
        return next;
    }
}
