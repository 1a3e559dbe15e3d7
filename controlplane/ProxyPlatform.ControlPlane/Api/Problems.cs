using System.Text.Json;
using System.Text.Json.Nodes;
using ProxyPlatform.Configuration;
using ProxyPlatform.Http;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>RFC 9457 problem details with stable types, the fields at fault and the request ID.</summary>
public static class Problems
{
    public static IResult From(AdminException ex, HttpContext context) => ex.Kind switch
    {
        AdminErrorKind.Busy => Busy(context, ex.Message),
        AdminErrorKind.Invalid => Create(context, 400, "validation", "The request is not valid", ex.Message, ex.Errors),
        AdminErrorKind.NotFound => Create(context, 404, "not-found", "Not found", ex.Message, ex.Errors),
        AdminErrorKind.PreconditionFailed => Create(context, 412, "precondition-failed", "Precondition failed", ex.Message),
        AdminErrorKind.Conflict => Create(context, 409, "conflict", "Conflict", ex.Message, ex.Errors),
        AdminErrorKind.Forbidden => Create(context, 403, "forbidden", "Forbidden", ex.Message),
        AdminErrorKind.TooLarge => Create(context, 413, "too-large", "Too large", ex.Message, ex.Errors),
        AdminErrorKind.QuotaExceeded => QuotaExceeded(context, ex),
        AdminErrorKind.RouteShadowed => RouteShadowed(context, ex),
        AdminErrorKind.Timeout => Create(context, 504, "timeout", "No answer in time", ex.Message),
        _ => Create(context, 500, "internal", "Internal error", "The request failed; see the control plane's log."),
    };

    /// <summary>
    /// An error no handler expected. Failures of the cluster or the database that a retry can
    /// outlive (<see cref="TransientFailures"/>: a silo that just died, PostgreSQL unreachable or just
    /// back) are a 503 <c>unavailable</c> with Retry-After; the write was not acknowledged, and PUT and
    /// DELETE are safe to repeat.
    /// </summary>
    public static IResult Unhandled(HttpContext context)
    {
        var error = context.Features.Get<Microsoft.AspNetCore.Diagnostics.IExceptionHandlerFeature>()?.Error;
        if (TransientFailures.IsTransient(error))
            return Unavailable(context);
        return Create(context, 500, "internal", "Internal error", "The request failed; the control plane's log has the details.");
    }

    /// <summary>503 <c>unavailable</c> with Retry-After: nothing was acknowledged; retry it.</summary>
    public static IResult Unavailable(HttpContext context)
    {
        context.Response.Headers.RetryAfter = "1";
        return Create(context, 503, "unavailable", "Temporarily unavailable",
            "The control plane could not complete the request right now (a node or the database is unavailable); nothing was acknowledged, retry it.");
    }

    // The quota, its limit and the current use, as fields of their own so a client can act on them.
    private static IResult QuotaExceeded(HttpContext context, AdminException ex)
    {
        var body = ProblemJson.Create(context, 403, "quota-exceeded", "Quota exceeded", ex.Message);
        body["instance"] = context.Request.Path.Value;
        body["quota"] = ex.Quota?.Quota;
        body["limit"] = ex.Quota?.Limit;
        body["use"] = ex.Quota?.Use;
        return Results.Text(body.ToJsonString(ConfigJson.Options), ProblemJson.ContentType, statusCode: 403);
    }

    // The route that would never answer and the routes that would take its requests, as fields of their own.
    private static IResult RouteShadowed(HttpContext context, AdminException ex)
    {
        var body = ProblemJson.Create(context, 409, "route-shadowed", "Route shadowed", ex.Message);
        body["instance"] = context.Request.Path.Value;
        body["route"] = ex.Route;
        body["shadowedBy"] = new JsonArray([.. ex.ShadowedBy.Select(r => JsonValue.Create(r))]);
        return Results.Text(body.ToJsonString(ConfigJson.Options), ProblemJson.ContentType, statusCode: 409);
    }

    /// <summary>A bounded queue is full: 503 with Retry-After; nothing was changed, and the request may be sent again.</summary>
    private static IResult Busy(HttpContext context, string detail)
    {
        context.Response.Headers.RetryAfter = "1";
        return Create(context, 503, "busy", "Too much pending work", detail);
    }

    public static IResult MalformedJson(HttpContext context, JsonException ex)
    {
        var field = FieldOf(ex);
        var detail = ex.Message.Contains("could not be mapped", StringComparison.Ordinal)
            ? $"{field}: is not a field of this resource."
            : field.Length == 0
                ? "The body is not valid JSON."
                : $"{field}: the value is malformed or of the wrong type (line {ex.LineNumber + 1}, position {ex.BytePositionInLine + 1}).";
        return Create(context, 400, "malformed-json", "The body is not valid JSON for this resource", detail, [new FieldError(field, detail)]);
    }

    public static IResult Create(HttpContext context, int status, string type, string title, string detail, IReadOnlyList<FieldError>? errors = null)
    {
        var body = ProblemJson.Create(context, status, type, title, detail);
        body["instance"] = context.Request.Path.Value;
        if (errors is { Count: > 0 })
        {
            body["field"] = errors[0].Field;
            body["errors"] = new JsonArray(errors.Select(e => (JsonNode)new JsonObject { ["field"] = e.Field, ["message"] = e.Message }).ToArray());
        }
        return Results.Text(body.ToJsonString(ConfigJson.Options), ProblemJson.ContentType, statusCode: status);
    }

    // System.Text.Json reports "$.match.pathPrefix" or, for an unknown member, the path of its object
    // and the name in the message; the field is given as the client wrote it.
    public static string FieldOf(JsonException ex)
    {
        var path = ex.Path ?? "$";
        var field = path == "$" ? "" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        const string marker = "The JSON property '";
        var start = ex.Message.IndexOf(marker, StringComparison.Ordinal);
        if (start >= 0 && ex.Message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            start += marker.Length;
            var end = ex.Message.IndexOf('\'', start);
            var name = ex.Message[start..end];
            if (!field.EndsWith(name, StringComparison.Ordinal))
                field = field.Length == 0 ? name : $"{field}.{name}";
        }
        return field;
    }
}
