using System.Globalization;
using System.Security.Claims;

namespace ProxyPlatform.ControlPlane.Access;

/// <summary>
/// Who is calling the admin API, and what that lets them touch. Every admin operation takes one, so
/// REST and gRPC apply the same rules: a tenant's key sees its own tenant only (another tenant is
/// "not found", as if it did not exist), a viewer only reads, and host names, pools, quotas,
/// workers and pool tokens are the operator's.
/// </summary>
public sealed record Caller(string KeyId, string Name, string Role, string? Tenant, DateTimeOffset? ExpiresAt)
{
    /// <summary>The bootstrap operator key (<c>Auth:OperatorKey</c>), or anyone when authentication is disabled.</summary>
    public static readonly Caller Bootstrap = new("bootstrap", "bootstrap", Roles.Operator, null, null);

    public bool IsOperator => Role == Roles.Operator;

    /// <summary>Reads of <paramref name="tenant"/>'s configuration, metrics and keys.</summary>
    public void EnsureCanRead(string tenant)
    {
        if (!IsOperator && Tenant != tenant)
            throw AdminException.NotFound($"Tenant '{tenant}'");
    }

    /// <summary>Changes to <paramref name="tenant"/>'s clusters, backends, routes and keys.</summary>
    public void EnsureCanWrite(string tenant)
    {
        EnsureCanRead(tenant);
        if (!IsOperator && Role != Roles.TenantAdmin)
            throw AdminException.Forbidden($"A {Role} key reads tenant '{tenant}' but cannot change it.");
    }

    /// <summary>What only an operator may do: tenants' host names, pools and quotas, workers, pool tokens.</summary>
    public void EnsureOperator(string what)
    {
        if (!IsOperator)
            throw AdminException.Forbidden($"Only an operator key can {what}.");
    }

    public const string KeyIdClaim = "pp:key";
    public const string TenantClaim = "pp:tenant";
    public const string PoolClaim = "pp:pool";
    public const string ExpiresClaim = "pp:expires";

    public static Caller From(ClaimsPrincipal user) => new(
        user.FindFirstValue(KeyIdClaim) ?? throw new InvalidOperationException("The caller was not authenticated by a ProxyPlatform credential."),
        user.FindFirstValue(ClaimTypes.Name) ?? "",
        user.FindFirstValue(ClaimTypes.Role) ?? "",
        user.FindFirstValue(TenantClaim),
        user.FindFirstValue(ExpiresClaim) is { } expires ? DateTimeOffset.Parse(expires, CultureInfo.InvariantCulture) : null);

    /// <summary>The principal of a verified credential, as the authorization policies read it.</summary>
    public static ClaimsPrincipal Principal(Credential credential, string scheme)
    {
        var claims = new List<Claim>
        {
            new(KeyIdClaim, credential.Id),
            new(ClaimTypes.Name, credential.Name),
            new(ClaimTypes.Role, credential.Role),
        };
        if (credential.Tenant is { } tenant)
            claims.Add(new Claim(TenantClaim, tenant));
        if (credential.Pool is { } pool)
            claims.Add(new Claim(PoolClaim, pool));
        if (credential.ExpiresAt is { } expiresAt)
            claims.Add(new Claim(ExpiresClaim, expiresAt.ToString("O", CultureInfo.InvariantCulture)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, ClaimTypes.Name, ClaimTypes.Role));
    }
}
