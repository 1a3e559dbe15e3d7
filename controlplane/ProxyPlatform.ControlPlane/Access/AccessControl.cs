using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using ProxyPlatform.ControlPlane.Hosting;

namespace ProxyPlatform.ControlPlane.Access;

/// <summary>
/// The authorization policies endpoints declare where they are mapped. An endpoint that declares
/// none falls back to <see cref="Operator"/>, so one that nobody thought about is closed, not open.
/// </summary>
public static class Policies
{
    /// <summary>Any admin key: operator, tenant-admin or tenant-viewer (what a tenant key may touch is the operation's check).</summary>
    public const string Admin = "admin";
    public const string Operator = "operator";
    /// <summary>A data-plane worker's credential: a pool token or the bootstrap worker token.</summary>
    public const string Worker = "worker";
}

public static class AccessControl
{
    /// <summary>Bearer authentication against stored credentials, and the policies of <see cref="Policies"/>.</summary>
    public static WebApplicationBuilder AddAccessControl(this WebApplicationBuilder builder, ControlPlaneOptions options)
    {
        builder.Services.AddSingleton<CredentialStore>();
        builder.Services.AddSingleton<CredentialVerifier>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<CredentialVerifier>());
        builder.Services.AddSingleton(new FailedAuthentications(options.FailedAttemptsBurst));
        builder.Services.AddAuthentication(BearerAuthentication.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, BearerAuthentication>(BearerAuthentication.SchemeName, null);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(Policies.Admin, p => p.RequireRole(Roles.Operator, Roles.TenantAdmin, Roles.TenantViewer))
            .AddPolicy(Policies.Operator, p => p.RequireRole(Roles.Operator))
            .AddPolicy(Policies.Worker, p => p.RequireRole(Roles.Worker))
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireRole(Roles.Operator).Build());
        return builder;
    }
}
