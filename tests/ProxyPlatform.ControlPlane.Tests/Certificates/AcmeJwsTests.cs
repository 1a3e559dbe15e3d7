using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ProxyPlatform.ControlPlane.Certificates.Acme;

namespace ProxyPlatform.ControlPlane.Tests.Certificates;

/// <summary>The ACME client's JWS (RFC 8555 §6.2, RFC 7515) and key authorizations (RFC 8555 §8.1, RFC 7638).</summary>
public sealed class AcmeJwsTests
{
    [Fact]
    public void A_request_is_signed_with_ES256_over_its_protected_header_and_payload_and_verifies_with_the_account_key()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var jws = new AcmeJws(ECDsa.Create(key.ExportParameters(true)));
        var url = new Uri("https://acme.test/new-order");

        var body = JsonNode.Parse(jws.Sign(url, "nonce-1", "https://acme.test/acct/7", new JsonObject { ["identifiers"] = new JsonArray() }))!;

        var protectedPart = body["protected"]!.GetValue<string>();
        var payloadPart = body["payload"]!.GetValue<string>();
        var header = JsonNode.Parse(AcmeJws.FromBase64Url(protectedPart))!;
        Assert.Equal("ES256", header["alg"]!.GetValue<string>());
        Assert.Equal("nonce-1", header["nonce"]!.GetValue<string>());
        Assert.Equal(url.AbsoluteUri, header["url"]!.GetValue<string>());
        Assert.Equal("https://acme.test/acct/7", header["kid"]!.GetValue<string>());
        Assert.Null(header["jwk"]);
        Assert.Equal("""{"identifiers":[]}""", Encoding.UTF8.GetString(AcmeJws.FromBase64Url(payloadPart)));
        var signature = AcmeJws.FromBase64Url(body["signature"]!.GetValue<string>());
        Assert.Equal(64, signature.Length);
        Assert.True(key.VerifyData(Encoding.ASCII.GetBytes($"{protectedPart}.{payloadPart}"), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
    }

    [Fact]
    public void Before_the_account_exists_the_key_itself_is_in_the_header_and_a_POST_as_GET_has_an_empty_payload()
    {
        using var jws = new AcmeJws(ECDsa.Create(ECCurve.NamedCurves.nistP256));

        var body = JsonNode.Parse(jws.Sign(new Uri("https://acme.test/new-acct"), "n", kid: null, payload: null))!;

        var header = JsonNode.Parse(AcmeJws.FromBase64Url(body["protected"]!.GetValue<string>()))!;
        Assert.Null(header["kid"]);
        Assert.Equal(jws.Jwk().ToJsonString(), header["jwk"]!.ToJsonString());
        Assert.Equal("", body["payload"]!.GetValue<string>());
    }

    [Fact]
    public void The_key_authorization_is_the_token_and_the_RFC_7638_thumbprint_of_the_canonical_JWK()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var p = key.ExportParameters(false);
        using var jws = new AcmeJws(ECDsa.Create(key.ExportParameters(true)));

        // Required members only, in lexicographic order, no whitespace (RFC 7638 §3).
        var canonical = $$"""{"crv":"P-256","kty":"EC","x":"{{AcmeJws.Base64Url(p.Q.X)}}","y":"{{AcmeJws.Base64Url(p.Q.Y)}}"}""";
        var thumbprint = AcmeJws.Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));

        Assert.Equal(thumbprint, jws.Thumbprint());
        Assert.Equal($"tok_en-1.{thumbprint}", jws.KeyAuthorization("tok_en-1"));
        Assert.DoesNotContain('=', thumbprint);
    }

    [Fact]
    public void An_ACME_problem_names_its_type_and_the_detail_of_each_identifier()
    {
        var problem = JsonNode.Parse("""
            {"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Some identifiers were rejected",
             "subproblems":[{"type":"urn:ietf:params:acme:error:malformed","detail":"bad name","identifier":{"type":"dns","value":"x.test"}}]}
            """);

        var error = AcmeException.From(problem, 400);

        Assert.Equal("urn:ietf:params:acme:error:rejectedIdentifier", error.Type);
        Assert.Contains("x.test: bad name", error.Detail, StringComparison.Ordinal);
        Assert.False(error.IsBadNonce);
        Assert.True(AcmeException.From(JsonNode.Parse("""{"type":"urn:ietf:params:acme:error:badNonce"}"""), 400).IsBadNonce);
    }
}
