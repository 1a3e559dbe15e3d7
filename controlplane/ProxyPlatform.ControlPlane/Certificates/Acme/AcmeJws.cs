using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ProxyPlatform.ControlPlane.Certificates.Acme;

/// <summary>
/// An ACME account key (ECDSA P-256) and the JWS it signs requests with (RFC 8555 §6.2: flattened JSON
/// serialization, ES256, the key's JWK on newAccount and its account URL as <c>kid</c> afterwards).
/// </summary>
public sealed class AcmeJws(ECDsa key) : IDisposable
{
    /// <summary>The key as its public JWK, members in the order RFC 7638 hashes them.</summary>
    public JsonObject Jwk()
    {
        var p = key.ExportParameters(false);
        return new JsonObject { ["crv"] = "P-256", ["kty"] = "EC", ["x"] = Base64Url(p.Q.X!), ["y"] = Base64Url(p.Q.Y!) };
    }

    /// <summary>The RFC 7638 thumbprint of the key: SHA-256 of its JWK's required members, base64url.</summary>
    public string Thumbprint() => Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes(Jwk().ToJsonString())));

    /// <summary>What an HTTP-01 challenge's resource answers: <c>token.thumbprint</c> (RFC 8555 §8.1).</summary>
    public string KeyAuthorization(string token) => $"{token}.{Thumbprint()}";

    /// <summary>
    /// The JWS body of a POST to <paramref name="url"/>: <paramref name="payload"/> (null: POST-as-GET, an
    /// empty payload) signed with the account's <paramref name="kid"/>, or with its JWK when there is none yet.
    /// </summary>
    public string Sign(Uri url, string nonce, string? kid, JsonNode? payload)
    {
        var header = new JsonObject { ["alg"] = "ES256", ["nonce"] = nonce, ["url"] = url.AbsoluteUri };
        if (kid is null)
            header["jwk"] = Jwk();
        else
            header["kid"] = kid;
        var protectedPart = Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString()));
        var payloadPart = payload is null ? "" : Base64Url(Encoding.UTF8.GetBytes(payload.ToJsonString()));
        var signature = key.SignData(Encoding.ASCII.GetBytes($"{protectedPart}.{payloadPart}"), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return new JsonObject { ["protected"] = protectedPart, ["payload"] = payloadPart, ["signature"] = Base64Url(signature) }.ToJsonString();
    }

    public static string Base64Url(ReadOnlySpan<byte> data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static byte[] FromBase64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded + new string('=', (4 - padded.Length % 4) % 4));
    }

    public void Dispose() => key.Dispose();
}

/// <summary>An ACME server's refusal (RFC 8555 §6.7): its problem type, detail and HTTP status.</summary>
public sealed class AcmeException(string type, string detail, int status) : Exception($"{detail} ({type}, HTTP {status})")
{
    public string Type { get; } = type;
    public string Detail { get; } = detail;
    public int Status { get; } = status;

    public bool IsBadNonce => Type == "urn:ietf:params:acme:error:badNonce";

    public static AcmeException From(JsonNode? problem, int status) => new(
        problem?["type"]?.GetValue<string>() ?? "about:blank",
        Describe(problem) is { Length: > 0 } detail ? detail : $"the ACME server answered {status}",
        status);

    /// <summary>A problem's detail with those of its subproblems (one per identifier), bounded.</summary>
    public static string Describe(JsonNode? problem)
    {
        var detail = problem?["detail"]?.GetValue<string>() ?? "";
        if (problem?["subproblems"] is JsonArray subproblems)
            detail += string.Concat(subproblems.Take(5).Select(s => $"; {s?["identifier"]?["value"]}: {s?["detail"]}"));
        return detail.Length > 1000 ? detail[..1000] : detail;
    }

    public static JsonNode? TryParse(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
