using Microsoft.AspNetCore.Http.Extensions;
using ProxyPlatform.DataPlane.Acme;
using ProxyPlatform.DataPlane.Hosting;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// A route's <c>httpsRedirect</c>: its requests over plain HTTP are answered 308 Permanent Redirect to
/// the same host, path and query over https (308, not 301, so a POST stays a POST), and never reach its
/// backends. <c>/.well-known/acme-challenge/</c> is never redirected (DESIGN.md, "Secrets on workers"):
/// HTTP-01 validation must be answered over plain HTTP, by the worker or by the tenant's own backend.
/// The https port is the default (443) unless <c>Proxy:HttpsRedirectPort</c> names the one clients reach
/// the TLS listener on.
/// </summary>
public sealed class HttpsRedirect(DataPlaneOptions options)
{
    /// <summary>True when the request is to be redirected; read only for routes that ask for it.</summary>
    public static bool Applies(HttpRequest request) =>
        !request.IsHttps && !(request.Path.Value ?? "").StartsWith(AcmeChallengeResponder.PathPrefix, StringComparison.Ordinal);

    public Task WriteAsync(HttpContext context)
    {
        var request = context.Request;
        var host = options.HttpsRedirectPort is { } port and not 443 ? new HostString(request.Host.Host, port) : new HostString(request.Host.Host);
        context.Response.StatusCode = StatusCodes.Status308PermanentRedirect;
        context.Response.Headers.Location = UriHelper.BuildAbsolute(Uri.UriSchemeHttps, host, request.PathBase, request.Path, request.QueryString);
        context.Response.ContentLength = 0;
        return Task.CompletedTask;
    }
}
