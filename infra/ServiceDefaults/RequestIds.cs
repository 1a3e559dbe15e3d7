using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ProxyPlatform.Http;

/// <summary>
/// Gives every request an ID: the caller's <c>X-Request-ID</c> when it is well formed (1–128
/// characters of A–Z, a–z, 0–9, '.', '_', '-'), otherwise a new one. The ID becomes the request's
/// <see cref="HttpContext.TraceIdentifier"/> (so problem bodies and logs carry it), stays on the request
/// (so a proxy forwards it) and is returned to the caller. One rule for the control plane and the workers.
/// </summary>
public static class RequestIds
{
    public const string HeaderName = "X-Request-ID";

    public static IApplicationBuilder UseRequestIds(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        var incoming = context.Request.Headers[HeaderName];
        var id = incoming.Count == 1 && IsWellFormed(incoming[0]) ? incoming[0]! : Guid.NewGuid().ToString("N");
        context.TraceIdentifier = id;
        context.Request.Headers[HeaderName] = id;
        // Set last, over whatever the backend answered, so the caller always gets the ID it can quote.
        context.Response.OnStarting(static state =>
        {
            var (response, requestId) = ((HttpResponse, string))state;
            response.Headers[HeaderName] = requestId;
            return Task.CompletedTask;
        }, (context.Response, id));
        return next(context);
    });

    public static bool IsWellFormed(string? id) =>
        id is { Length: > 0 and <= 128 } && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
