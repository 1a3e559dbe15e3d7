using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane.Certificates.Acme;

/// <summary>A certificate an ACME server issued: its PEM chain (leaf first) and the PEM key made for it.</summary>
public sealed record AcmeIssued(string ChainPem, string KeyPem);

/// <summary>
/// A small RFC 8555 client: directory, nonces, account, order, HTTP-01 authorizations, finalize with a
/// CSR of a fresh key, and download of the chain. Every request is a JWS POST (<see cref="AcmeJws"/>); a
/// <c>badNonce</c> refusal is sent again with the fresh nonce it carries, as §6.5 allows.
/// </summary>
/// <param name="http">Reaches the ACME server (trusting <c>Acme:TrustedCaFile</c> when set).</param>
/// <param name="directoryUrl">The server's directory (<c>Acme:DirectoryUrl</c>).</param>
/// <param name="jws">The account's key.</param>
/// <param name="accountUrl">The account's URL (its <c>kid</c>) once known.</param>
public sealed class AcmeClient(HttpClient http, Uri directoryUrl, AcmeJws jws, string? accountUrl = null)
{
    private const int BadNonceRetries = 5;
    private const int MaxResponseBytes = 1024 * 1024;
    private static readonly TimeSpan PollDelay = TimeSpan.FromSeconds(1);

    private JsonNode? _directory;
    private string? _nonce;

    public string? AccountUrl { get; private set; } = accountUrl;

    /// <summary>Finds or creates the account of this key (agreeing to the server's terms); returns its URL.</summary>
    public async Task<string> RegisterAsync(IReadOnlyList<string> contact, CancellationToken ct)
    {
        var payload = new JsonObject { ["termsOfServiceAgreed"] = true };
        if (contact.Count > 0)
            payload["contact"] = new JsonArray(contact.Select(c => (JsonNode)$"mailto:{c}").ToArray());
        var (response, _) = await PostAsync(await EndpointAsync("newAccount", ct), payload, useKid: false, ct);
        AccountUrl = response.Headers.Location?.AbsoluteUri ?? throw new AcmeException("about:blank", "newAccount answered no account URL", (int)response.StatusCode);
        return AccountUrl;
    }

    /// <summary>
    /// Orders a certificate for <paramref name="hosts"/>: publishes each pending HTTP-01 challenge through
    /// <paramref name="publish"/> (which returns once the workers serve them), asks the server to validate,
    /// waits for the authorizations, finalizes with a CSR of a new ECDSA P-256 key, and downloads the chain.
    /// </summary>
    public async Task<AcmeIssued> OrderAsync(IReadOnlyList<string> hosts, Func<IReadOnlyList<AcmeHttpChallenge>, Task> publish, TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        ct = deadline.Token;
        var identifiers = new JsonArray(hosts.Select(h => (JsonNode)new JsonObject { ["type"] = "dns", ["value"] = h }).ToArray());
        var (created, order) = await PostAsync(await EndpointAsync("newOrder", ct), new JsonObject { ["identifiers"] = identifiers }, useKid: true, ct);
        var orderUrl = created.Headers.Location ?? throw new AcmeException("about:blank", "newOrder answered no order URL", (int)created.StatusCode);

        var pending = new List<(Uri Authorization, Uri Challenge)>();
        var challenges = new List<AcmeHttpChallenge>();
        foreach (var url in Strings(order, "authorizations"))
        {
            var authorization = new Uri(url);
            var (_, authz) = await PostAsync(authorization, null, useKid: true, ct);
            if (Text(authz, "status") == "valid")
                continue;
            var host = authz?["identifier"]?["value"]?.GetValue<string>() ?? "";
            var http01 = (authz?["challenges"] as JsonArray)?.FirstOrDefault(c => Text(c, "type") == "http-01")
                ?? throw new AcmeException("about:blank", $"the server offers no http-01 challenge for {host}", 0);
            var token = Text(http01, "token") ?? "";
            challenges.Add(new AcmeHttpChallenge { Host = HostNames.Normalize(host), Token = token, KeyAuthorization = jws.KeyAuthorization(token) });
            pending.Add((authorization, new Uri(Text(http01, "url")!)));
        }
        if (challenges.Count > 0)
            await publish(challenges);
        foreach (var (_, challenge) in pending)
            await PostAsync(challenge, new JsonObject(), useKid: true, ct);
        foreach (var (authorization, _) in pending)
        {
            var authz = await PollAsync(authorization, s => s is "valid" or "invalid" or "deactivated" or "expired" or "revoked", ct);
            if (Text(authz, "status") != "valid")
            {
                var error = (authz?["challenges"] as JsonArray)?.Select(c => c?["error"]).FirstOrDefault(e => e is not null);
                throw AcmeException.From(error ?? new JsonObject { ["detail"] = $"authorization of {authz?["identifier"]?["value"]} is {Text(authz, "status")}" }, 0);
            }
        }

        order = await PollAsync(orderUrl, s => s is "ready" or "valid" or "invalid", ct);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        if (Text(order, "status") == "ready")
        {
            var request = new CertificateRequest($"CN={hosts[0]}", key, HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            foreach (var host in hosts)
                names.AddDnsName(host);
            request.CertificateExtensions.Add(names.Build());
            var csr = AcmeJws.Base64Url(request.CreateSigningRequest());
            await PostAsync(new Uri(Text(order, "finalize")!), new JsonObject { ["csr"] = csr }, useKid: true, ct);
            order = await PollAsync(orderUrl, s => s is "valid" or "invalid", ct);
        }
        if (Text(order, "status") != "valid" || Text(order, "certificate") is not { } certificateUrl)
            throw AcmeException.From(order?["error"] ?? new JsonObject { ["detail"] = $"the order ended {Text(order, "status")}" }, 0);
        var chain = await DownloadAsync(new Uri(certificateUrl), ct);
        return new AcmeIssued(chain, key.ExportPkcs8PrivateKeyPem());
    }

    private async Task<JsonNode?> PollAsync(Uri url, Func<string?, bool> done, CancellationToken ct)
    {
        while (true)
        {
            var (response, body) = await PostAsync(url, null, useKid: true, ct);
            if (done(Text(body, "status")))
                return body;
            var delay = response.Headers.RetryAfter?.Delta is { } after && after > TimeSpan.Zero && after < TimeSpan.FromSeconds(30) ? after : PollDelay;
            await Task.Delay(delay, ct);
        }
    }

    private async Task<string> DownloadAsync(Uri url, CancellationToken ct)
    {
        using var response = await SendAsync(url, null, useKid: true, "application/pem-certificate-chain", ct);
        var text = await ReadAsync(response, ct);
        if (!response.IsSuccessStatusCode)
            throw AcmeException.From(AcmeException.TryParse(text), (int)response.StatusCode);
        return text;
    }

    private async Task<(HttpResponseMessage Response, JsonNode? Body)> PostAsync(Uri url, JsonNode? payload, bool useKid, CancellationToken ct)
    {
        var response = await SendAsync(url, payload, useKid, "application/json", ct);
        var text = await ReadAsync(response, ct);
        var body = AcmeException.TryParse(text);
        if (!response.IsSuccessStatusCode)
        {
            response.Dispose();
            throw AcmeException.From(body, (int)response.StatusCode);
        }
        return (response, body);
    }

    private async Task<HttpResponseMessage> SendAsync(Uri url, JsonNode? payload, bool useKid, string accept, CancellationToken ct)
    {
        if (useKid && AccountUrl is null)
            throw new InvalidOperationException("The ACME account is not registered yet.");
        for (var attempt = 0; ; attempt++)
        {
            var nonce = _nonce ?? await NewNonceAsync(ct);
            _nonce = null;
            using var request = new HttpRequestMessage(HttpMethod.Post, url)
            {
                Content = new StringContent(jws.Sign(url, nonce, useKid ? AccountUrl : null, payload?.DeepClone()), Encoding.UTF8),
            };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/jose+json");
            request.Headers.Accept.ParseAdd(accept);
            var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            _nonce = response.Headers.TryGetValues("Replay-Nonce", out var nonces) ? nonces.FirstOrDefault() : null;
            if (response.StatusCode == System.Net.HttpStatusCode.BadRequest && attempt < BadNonceRetries)
            {
                var text = await ReadAsync(response, ct);
                var problem = AcmeException.TryParse(text);
                if (AcmeException.From(problem, 400).IsBadNonce)
                {
                    response.Dispose();
                    continue;
                }
                // Put the body back for the caller, who reports the refusal.
                var replay = new HttpResponseMessage(response.StatusCode) { Content = new StringContent(text) };
                response.Dispose();
                return replay;
            }
            return response;
        }
    }

    private async Task<string> NewNonceAsync(CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, await EndpointAsync("newNonce", ct));
        using var response = await http.SendAsync(request, ct);
        return response.Headers.TryGetValues("Replay-Nonce", out var nonces) && nonces.FirstOrDefault() is { Length: > 0 } nonce
            ? nonce
            : throw new AcmeException("about:blank", "newNonce answered no Replay-Nonce", (int)response.StatusCode);
    }

    private async Task<Uri> EndpointAsync(string name, CancellationToken ct)
    {
        if (_directory is null)
        {
            using var response = await http.GetAsync(directoryUrl, HttpCompletionOption.ResponseHeadersRead, ct);
            var text = await ReadAsync(response, ct);
            if (!response.IsSuccessStatusCode)
                throw AcmeException.From(AcmeException.TryParse(text), (int)response.StatusCode);
            _directory = AcmeException.TryParse(text) ?? throw new AcmeException("about:blank", $"the directory {directoryUrl} is not JSON", (int)response.StatusCode);
        }
        return Text(_directory, name) is { } url ? new Uri(url) : throw new AcmeException("about:blank", $"the directory names no {name}", 0);
    }

    /// <summary>A response body, read up to a bound: an ACME server answers little, and nothing here trusts it to.</summary>
    private static async Task<string> ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        using var body = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(buffer, ct)) > 0)
        {
            if (body.Length + read > MaxResponseBytes)
                throw new AcmeException("about:blank", $"the ACME server answered more than {MaxResponseBytes} bytes", (int)response.StatusCode);
            body.Write(buffer, 0, read);
        }
        return Encoding.UTF8.GetString(body.GetBuffer(), 0, (int)body.Length);
    }

    private static string? Text(JsonNode? node, string name) =>
        node?[name] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private static IEnumerable<string> Strings(JsonNode? node, string name) =>
        (node?[name] as JsonArray ?? []).Select(n => n?.GetValue<string>()).OfType<string>();
}
