using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace ProxyPlatform.Http;

/// <summary>
/// The platform's own error answers, from the admin API and from the workers alike: RFC 9457 problem
/// details whose <c>type</c> is a stable URI under <see cref="BaseUri"/>, carrying the request ID, so
/// a client can tell the platform's errors from a backend's and quote the request.
/// </summary>
public static class ProblemJson
{
    public const string BaseUri = "https://proxyplatform.dev/problems/";
    public const string ContentType = "application/problem+json";

    /// <summary>The members every problem has; callers add their own (the field at fault, the route).</summary>
    public static JsonObject Create(HttpContext context, int status, string type, string title, string detail) => new()
    {
        ["type"] = BaseUri + type,
        ["title"] = title,
        ["status"] = status,
        ["detail"] = detail,
        ["requestId"] = context.TraceIdentifier,
    };
}
