using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ProxyPlatform.Ctl.Login;

namespace ProxyPlatform.Ctl.Http;

/// <summary>
/// The admin REST API as ppctl uses it: a typed client over one <see cref="HttpClient"/> whose base
/// address and bearer key come from the <see cref="Connection"/>. Answers are JSON trees, so that ppctl
/// passes on fields it does not know; a refusal is a <see cref="ProblemException"/>.
/// </summary>
public sealed class ControlPlaneClient(HttpClient http)
{
    public const string MergePatchType = "application/merge-patch+json";

    /// <summary>A client for <paramref name="connection"/>; the caller disposes the <see cref="HttpClient"/>.</summary>
    public static HttpClient HttpClientFor(Connection connection, HttpMessageHandler? handler = null)
    {
        var client = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        // A wait asks the server to hold the answer for up to a minute; leave room for that.
        client.Timeout = TimeSpan.FromSeconds(100);
        client.BaseAddress = new Uri(connection.Url.ToString().TrimEnd('/') + "/");
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", connection.Key);
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("ppctl", typeof(ControlPlaneClient).Assembly.GetName().Version?.ToString(3) ?? "0"));
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return client;
    }

    public Uri? BaseAddress => http.BaseAddress;

    public Task<JsonNode?> GetAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Get, path, null, null, ct);

    public Task<JsonNode?> PutAsync(string path, JsonNode body, CancellationToken ct) => SendAsync(HttpMethod.Put, path, body, null, ct);

    public Task<JsonNode?> PostAsync(string path, JsonNode body, CancellationToken ct) => SendAsync(HttpMethod.Post, path, body, null, ct);

    public Task<JsonNode?> MergePatchAsync(string path, JsonNode patch, CancellationToken ct) => SendAsync(HttpMethod.Patch, path, patch, MergePatchType, ct);

    public Task<JsonNode?> DeleteAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.Delete, path, null, null, ct);

    /// <summary>
    /// Every item of a list, following its <c>next</c> cursors: a list answers <c>{"items": [...], "next": cursor|null}</c>
    /// (older control planes: <c>{"items": [...]}</c> or a plain array, both of them whole).
    /// </summary>
    public async Task<List<JsonNode?>> ListAsync(string path, CancellationToken ct)
    {
        var items = new List<JsonNode?>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string? after = null;
        while (true)
        {
            var page = await GetAsync(after is null ? path : WithQuery(path, "after", after), ct);
            switch (page)
            {
                case JsonArray array:
                    items.AddRange(array.Select(i => i?.DeepClone()));
                    return items;
                case JsonObject { } body when body["items"] is JsonArray array:
                    items.AddRange(array.Select(i => i?.DeepClone()));
                    after = body["next"] is JsonValue next && next.TryGetValue<string>(out var cursor) && cursor.Length > 0 ? cursor : null;
                    if (after is null)
                        return items;
                    // A server that answered the same cursor twice would keep ppctl going for ever.
                    if (!seen.Add(after))
                        throw new CommandFailedException($"the control plane answered the cursor '{after}' twice for {path}; the list is incomplete.");
                    break;
                default:
                    throw new CommandFailedException($"the control plane's answer to GET {path} is not a list.");
            }
        }
    }

    /// <summary><paramref name="path"/> with <c>name=value</c> added to its query.</summary>
    public static string WithQuery(string path, string name, string? value) =>
        value is null ? path : $"{path}{(path.Contains('?', StringComparison.Ordinal) ? '&' : '?')}{name}={Uri.EscapeDataString(value)}";

    /// <summary>A path segment, escaped: IDs come from the command line.</summary>
    public static string Segment(string value) => Uri.EscapeDataString(value);

    private async Task<JsonNode?> SendAsync(HttpMethod method, string path, JsonNode? body, string? mediaType, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (body is not null)
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, new MediaTypeHeaderValue(mediaType ?? "application/json"));
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (HttpRequestException ex)
        {
            throw new CommandFailedException($"cannot reach the control plane at {http.BaseAddress}: {ex.Message}");
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new CommandFailedException($"the control plane at {http.BaseAddress} did not answer {method} {path} within {http.Timeout.TotalSeconds:0} s.");
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
                throw Refusal(response, text);
            if (text.Length == 0)
                return null;
            try
            {
                return JsonNode.Parse(text);
            }
            catch (JsonException)
            {
                throw new CommandFailedException($"the answer to {method} {path} is not JSON (HTTP {(int)response.StatusCode}).");
            }
        }
    }

    private static ProblemException Refusal(HttpResponseMessage response, string text)
    {
        JsonObject? problem = null;
        if (text.Length > 0 && (response.Content.Headers.ContentType?.MediaType?.EndsWith("json", StringComparison.OrdinalIgnoreCase) ?? false))
        {
            try
            {
                problem = JsonNode.Parse(text) as JsonObject;
            }
            catch (JsonException)
            {
            }
        }
        var status = response.StatusCode;
        var fallback = status switch
        {
            HttpStatusCode.NotFound => $"HTTP 404 Not Found: {response.RequestMessage?.RequestUri?.AbsolutePath} (is this control plane older than ppctl?)",
            _ => $"HTTP {(int)status} {response.ReasonPhrase}",
        };
        return new ProblemException(status, problem, fallback);
    }
}
