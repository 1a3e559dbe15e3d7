using System.Net;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using ProxyPlatform.ControlPlane.Api;
using ProxyPlatform.ControlPlane.Hosting;

namespace ProxyPlatform.ControlPlane.Access;

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key or token&gt;</c> (the same header as gRPC's
/// <c>authorization</c> metadata) against the stored credentials. It only says who the caller is; the
/// policies on each endpoint say what that caller may do. A refusal is a 401 problem+json with
/// <c>WWW-Authenticate: Bearer</c> (a gRPC status for gRPC calls), a key without the right a 403.
/// </summary>
public sealed class BearerAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory loggers, UrlEncoder encoder,
    CredentialVerifier verifier, FailedAuthentications failures, ControlPlaneOptions controlPlane)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggers, encoder)
{
    public const string SchemeName = "Bearer";
    private const string FailureKey = "proxyplatform.auth-failure";

    /// <summary>
    /// With <c>Auth:Disabled=true</c> (allowed only when every listener is on loopback) a caller without
    /// a key is the bootstrap operator, and a worker without a token the bootstrap worker.
    /// </summary>
    private static readonly System.Security.Claims.ClaimsPrincipal Trusted = TrustedPrincipal();

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
            return controlPlane.AuthDisabled ? AuthenticateResult.Success(new AuthenticationTicket(Trusted, SchemeName)) : AuthenticateResult.NoResult();
        var client = Context.Connection.RemoteIpAddress ?? IPAddress.None;
        var throttled = failures.IsThrottled(client, out _);
        var verification = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > "Bearer ".Length
            ? await verifier.VerifyAsync(header["Bearer ".Length..].Trim(), lookUp: !throttled, Context.RequestAborted)
            : Verification.Failed("the Authorization header is not 'Bearer <key>'");
        if (verification.Credential is { } credential)
            return AuthenticateResult.Success(new AuthenticationTicket(Caller.Principal(credential, SchemeName), SchemeName));

        failures.Record(client);
        // The presented secret is never logged: only the address and what was wrong with it.
        Logger.Log(throttled ? LogLevel.Debug : LogLevel.Warning, "Refused a credential from {Client} for {Method} {Path}: {Reason}",
            client, Request.Method, Request.Path.Value, verification.Failure);
        Context.Items[FailureKey] = verification.Failure;
        return AuthenticateResult.Fail(verification.Failure!);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var presented = Context.Items.TryGetValue(FailureKey, out var why);
        var throttled = failures.IsThrottled(Context.Connection.RemoteIpAddress ?? IPAddress.None, out var retryAfter);
        Response.Headers.WWWAuthenticate = presented ? "Bearer error=\"invalid_token\"" : "Bearer";
        if (throttled)
            Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var detail = presented
            ? $"The credential was refused ({why}). Present a valid, unexpired key: Authorization: Bearer <key>."
            : "This endpoint needs a key: Authorization: Bearer <key>.";
        return Refuse(throttled ? StatusCodes.Status429TooManyRequests : StatusCodes.Status401Unauthorized,
            throttled ? "too-many-attempts" : "unauthorized", throttled ? "Too many failed attempts" : "Unauthorized", detail, Grpc.Core.StatusCode.Unauthenticated);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Refuse(StatusCodes.Status403Forbidden, "forbidden", "Forbidden",
            $"The key '{Caller.From(Context.User).Name}' ({Caller.From(Context.User).Role}) does not allow {Request.Method} {Request.Path}.",
            Grpc.Core.StatusCode.PermissionDenied);

    private Task Refuse(int status, string type, string title, string detail, Grpc.Core.StatusCode grpcStatus)
    {
        if (Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            // gRPC's "trailers-only" answer: a 200 whose headers carry the call's status.
            Response.StatusCode = StatusCodes.Status200OK;
            Response.ContentType = "application/grpc";
            Response.Headers["grpc-status"] = ((int)grpcStatus).ToString(System.Globalization.CultureInfo.InvariantCulture);
            Response.Headers["grpc-message"] = Uri.EscapeDataString(detail);
            return Task.CompletedTask;
        }
        return Problems.Create(Context, status, type, title, detail).ExecuteAsync(Context);
    }

    private static System.Security.Claims.ClaimsPrincipal TrustedPrincipal()
    {
        var principal = Caller.Principal(CredentialVerifier.BootstrapOperator, SchemeName);
        ((System.Security.Claims.ClaimsIdentity)principal.Identity!).AddClaim(new(System.Security.Claims.ClaimTypes.Role, Roles.Worker));
        return principal;
    }
}
