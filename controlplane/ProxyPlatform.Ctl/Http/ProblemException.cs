using System.Net;
using System.Text.Json.Nodes;

namespace ProxyPlatform.Ctl.Http;

/// <summary>
/// The control plane refused a request: its RFC 9457 problem (title, detail and the field at fault),
/// or, from something that is not the control plane, the status alone.
/// </summary>
public sealed class ProblemException(HttpStatusCode status, JsonObject? problem, string fallback)
    : Exception(problem?["title"]?.ToString() ?? fallback)
{
    public HttpStatusCode Status { get; } = status;
    /// <summary>The problem+json body, when the answer was one.</summary>
    public JsonObject? Problem { get; } = problem;
    public string? Title => Text("title");
    public string? Detail => Text("detail");
    public string? Field => Text("field");
    public string? Type => Text("type");

    private string? Text(string name) => Problem?[name] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    /// <summary>What a person reads: the title and detail, then the field at fault.</summary>
    public IEnumerable<string> Lines()
    {
        if (Problem is null)
        {
            yield return $"Error: {Message}";
            yield break;
        }
        var title = Title ?? $"HTTP {(int)Status}";
        yield return Detail is { Length: > 0 } detail ? $"Error: {title}: {detail}" : $"Error: {title}";
        if (Field is { Length: > 0 } field)
            yield return $"  field: {field}";
        if (Problem["errors"] is JsonArray errors && errors.Count > 1)
            foreach (var error in errors)
                yield return $"  {error?["field"]}: {error?["message"]}";
        if (Problem["requestId"] is JsonValue id)
            yield return $"  request: {id}";
    }
}
