using System.Security.Cryptography;
using System.Text;
using ProxyPlatform.ControlPlane.Api;

namespace ProxyPlatform.ControlPlane.Hosting;

/// <summary>
/// Bearer-token checks: the admin APIs (REST and gRPC) require <c>Auth:OperatorKey</c> and the
/// data-plane stream requires <c>Auth:DataPlaneToken</c>, each only when it is configured.
/// </summary>
public sealed class AdminAuthentication(RequestDelegate next, ControlPlaneOptions options)
{
    private const string StreamPrefix = "/proxyplatform.dataplane.v1.ConfigStream/";
    private const string GrpcAdminPrefix = "/proxyplatform.admin.v1.Admin/";

    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        string? required = path.StartsWith(StreamPrefix, StringComparison.Ordinal) ? options.DataPlaneToken
            : path.StartsWith("/v1/", StringComparison.Ordinal) || path.StartsWith(GrpcAdminPrefix, StringComparison.Ordinal) ? options.OperatorKey
            : null;
        if (required is null || Presented(context) is { } token && Same(token, required))
            return next(context);

        if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true)
        {
            context.Response.ContentType = "application/grpc";
            context.Response.AppendTrailer("grpc-status", "16");
            context.Response.AppendTrailer("grpc-message", "A valid bearer token is required.");
            return Task.CompletedTask;
        }
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Problems.Create(context, 401, "unauthorized", "Unauthorized", "A valid bearer token is required (Authorization: Bearer <key>).")
            .ExecuteAsync(context);
    }

    private static string? Presented(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
    }

    private static bool Same(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));
}
