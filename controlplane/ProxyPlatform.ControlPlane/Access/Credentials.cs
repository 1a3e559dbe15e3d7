using System.Security.Cryptography;
using System.Text;

namespace ProxyPlatform.ControlPlane.Access;

/// <summary>What a credential lets its holder do.</summary>
public static class Roles
{
    /// <summary>Everything.</summary>
    public const string Operator = "operator";
    /// <summary>One tenant's clusters, backends, routes, metrics and keys; not its host names, pool or quotas.</summary>
    public const string TenantAdmin = "tenant-admin";
    /// <summary>Reads one tenant's configuration and metrics.</summary>
    public const string TenantViewer = "tenant-viewer";
    /// <summary>A data-plane worker: opens the configuration stream for one pool (any pool for the bootstrap token).</summary>
    public const string Worker = "worker";

    public static readonly IReadOnlyList<string> ForKeys = [Operator, TenantAdmin, TenantViewer];

    public static bool IsTenantRole(string role) => role is TenantAdmin or TenantViewer;
}

/// <summary>A stored credential: an API key or a pool token, without its secret (only a hash of it is kept).</summary>
public sealed record Credential(
    string Id,
    CredentialKind Kind,
    string Name,
    string Role,
    string? Tenant,
    string? Pool,
    DateTimeOffset CreatedAt,
    string CreatedBy,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt,
    DateTimeOffset? LastUsedAt)
{
    public bool IsValidAt(DateTimeOffset now) => RevokedAt is null && (ExpiresAt is not { } expires || expires > now);
}

public enum CredentialKind
{
    /// <summary>An admin API key (<c>ppk_…</c>).</summary>
    Key = 1,
    /// <summary>A worker's credential bound to one pool (<c>ppw_…</c>).</summary>
    PoolToken = 2,
}

/// <summary>
/// The secrets handed out for credentials: <c>ppk_&lt;id&gt;_&lt;secret&gt;</c> for API keys and
/// <c>ppw_&lt;id&gt;_&lt;secret&gt;</c> for pool tokens, recognisable in a leaked file, with the ID that finds
/// the stored hash and 256 random bits. Only a SHA-256 of the whole secret is stored: the secret is
/// random, so a slow password hash would add nothing but cost to every request.
/// </summary>
public static class CredentialSecrets
{
    private const string KeyPrefix = "ppk_";
    private const string TokenPrefix = "ppw_";
    private const int IdLength = 16;
    private const int MaxLength = 128;

    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdLength / 2));

    public static string NewSecret(CredentialKind kind, string id) =>
        $"{(kind == CredentialKind.Key ? KeyPrefix : TokenPrefix)}{id}_{Base64Url(RandomNumberGenerator.GetBytes(32))}";

    public static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    /// <summary>The kind and ID a presented secret claims, when it has the shape of one of ours.</summary>
    public static bool TryParse(string presented, out CredentialKind kind, out string id)
    {
        kind = presented.StartsWith(KeyPrefix, StringComparison.Ordinal) ? CredentialKind.Key
            : presented.StartsWith(TokenPrefix, StringComparison.Ordinal) ? CredentialKind.PoolToken
            : 0;
        id = "";
        if (kind == 0 || presented.Length > MaxLength)
            return false;
        var rest = presented.AsSpan(KeyPrefix.Length);
        var separator = rest.IndexOf('_');
        if (separator != IdLength || !IsLowerHex(rest[..IdLength]))
            return false;
        id = rest[..IdLength].ToString();
        return true;
    }

    /// <summary>Compares in constant time, so the comparison says nothing about how much of a guess was right.</summary>
    public static bool Matches(string presented, byte[] storedHash) =>
        CryptographicOperations.FixedTimeEquals(Hash(presented), storedHash);

    private static bool IsLowerHex(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigitLower(c))
                return false;
        }
        return true;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
