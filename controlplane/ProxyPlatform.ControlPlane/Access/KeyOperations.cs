using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Api;

namespace ProxyPlatform.ControlPlane.Access;

/// <summary>What <c>POST /v1/keys</c> takes: a name for people, a role, the tenant of a tenant role, and an optional expiry.</summary>
public sealed record KeyRequest
{
    public string Name { get; init; } = "";
    public string Role { get; init; } = "";
    public string? Tenant { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
}

/// <summary>What <c>POST /v1/pools/{pool}/tokens</c> takes.</summary>
public sealed record PoolTokenRequest
{
    public string Name { get; init; } = "";
    public DateTimeOffset? ExpiresAt { get; init; }
}

/// <summary>A credential just issued, with its secret: the only time the secret is ever shown.</summary>
public sealed record IssuedCredential(Credential Credential, string Secret);

/// <summary>
/// API keys and pool tokens as the admin APIs manage them. An operator manages every key and every
/// pool token; a tenant-admin manages the tenant-admin and tenant-viewer keys of its own tenant,
/// expiring no later than its own key; a tenant-viewer manages none.
/// </summary>
public sealed class KeyOperations(CredentialStore store, CredentialVerifier verifier, IGrainFactory grains, TimeProvider time, Audit.AuditOptions? audit = null)
{
    public const int MaxNameLength = 100;

    public async Task<IssuedCredential> CreateKey(Caller caller, KeyRequest? request)
    {
        if (request is null)
            throw AdminException.Invalid("", "A key body is required: {\"name\", \"role\", \"tenant\", \"expiresAt\"}.");
        EnsureManagesKeys(caller);
        if (!caller.IsOperator && request.Role == Roles.Operator)
            throw AdminException.Forbidden("A tenant-admin key cannot create operator keys.");
        var errors = new List<FieldError>();
        ValidateName(request.Name, errors);
        if (!Roles.ForKeys.Contains(request.Role))
            errors.Add(new FieldError("role", $"'{request.Role}' is not a role; use {string.Join(", ", Roles.ForKeys)}."));
        var tenant = request.Tenant ?? (caller.IsOperator ? null : caller.Tenant);
        if (Roles.IsTenantRole(request.Role) && tenant is null)
            errors.Add(new FieldError("tenant", $"is required for a {request.Role} key: the tenant it is bound to."));
        else if (request.Role == Roles.Operator && tenant is not null)
            errors.Add(new FieldError("tenant", "must be absent for an operator key, which is bound to no tenant."));
        else if (tenant is not null && !ConfigValidator.IsValidId(tenant))
            errors.Add(new FieldError("tenant", $"'{tenant}' is not a valid tenant ID."));
        var expiresAt = request.ExpiresAt ?? (caller.IsOperator ? null : caller.ExpiresAt);
        ValidateExpiry(expiresAt, errors);
        if (errors.Count > 0)
            throw AdminException.Invalid(errors);

        if (!caller.IsOperator)
        {
            caller.EnsureCanWrite(tenant!);
            if (caller.ExpiresAt is { } limit && expiresAt > limit)
                throw AdminException.Invalid("expiresAt", $"must be no later than the expiry of the key creating it ({limit:O}).");
        }
        if (tenant is not null && await grains.GetGrain<ITenantGrain>(tenant).Get() is null)
            throw AdminException.NotFound($"Tenant '{tenant}'");
        return await IssueAsync(CredentialKind.Key, request.Name, request.Role, tenant, null, expiresAt, caller);
    }

    public async Task<Page<Credential>> ListKeys(Caller caller, string? tenant, PageRequest page)
    {
        EnsureManagesKeys(caller);
        if (!caller.IsOperator)
        {
            tenant ??= caller.Tenant;
            caller.EnsureCanRead(tenant!);
        }
        else if (tenant is not null && !ConfigValidator.IsValidId(tenant))
        {
            throw AdminException.Invalid("tenant", $"'{tenant}' is not a valid tenant ID.");
        }
        return await PageAsync(CredentialKind.Key, tenant, null, page);
    }

    public async Task<Credential> GetKey(Caller caller, string id)
    {
        EnsureManagesKeys(caller);
        return Visible(caller, await FindAsync(id, CredentialKind.Key)) ?? throw AdminException.NotFound($"Key '{id}'");
    }

    /// <summary>Revokes a key: from the next second on, no control-plane node accepts it.</summary>
    public async Task<Credential> RevokeKey(Caller caller, string id)
    {
        EnsureManagesKeys(caller);
        var key = Visible(caller, await FindAsync(id, CredentialKind.Key)) ?? throw AdminException.NotFound($"Key '{id}'");
        if (!caller.IsOperator)
            caller.EnsureCanWrite(key.Tenant!);
        return await RevokeAsync(key, caller);
    }

    public async Task<IssuedCredential> CreatePoolToken(Caller caller, string pool, PoolTokenRequest? request)
    {
        caller.EnsureOperator("issue pool tokens");
        var errors = new List<FieldError>(ConfigValidator.ValidateId("pool", pool));
        if (request is null)
            throw AdminException.Invalid("", "A token body is required: {\"name\", \"expiresAt\"}.");
        ValidateName(request.Name, errors);
        ValidateExpiry(request.ExpiresAt, errors);
        if (errors.Count > 0)
            throw AdminException.Invalid(errors);
        return await IssueAsync(CredentialKind.PoolToken, request.Name, Roles.Worker, null, pool, request.ExpiresAt, caller);
    }

    public async Task<Page<Credential>> ListPoolTokens(Caller caller, string pool, PageRequest page)
    {
        caller.EnsureOperator("list pool tokens");
        if (!ConfigValidator.IsValidId(pool))
            throw AdminException.Invalid("pool", $"'{pool}' is not a valid pool ID.");
        return await PageAsync(CredentialKind.PoolToken, null, pool, page);
    }

    /// <summary>Revokes a pool token: workers can no longer connect with it, and its open streams are closed.</summary>
    public async Task<Credential> RevokePoolToken(Caller caller, string pool, string id)
    {
        caller.EnsureOperator("revoke pool tokens");
        var token = await FindAsync(id, CredentialKind.PoolToken);
        if (token is null || token.Pool != pool)
            throw AdminException.NotFound($"Token '{id}' of pool '{pool}'");
        return await RevokeAsync(token, caller);
    }

    /// <summary>A tenant was deleted or created anew: its keys go (a new tenant under an old name never inherits them).</summary>
    public async Task DeleteTenantKeysAsync(string tenant)
    {
        foreach (var id in await store.DeleteTenantAsync(tenant))
            verifier.Forget(id);
    }

    private async Task<IssuedCredential> IssueAsync(CredentialKind kind, string name, string role, string? tenant, string? pool, DateTimeOffset? expiresAt, Caller caller)
    {
        var id = CredentialSecrets.NewId();
        var secret = CredentialSecrets.NewSecret(kind, id);
        var credential = new Credential(id, kind, name, role, tenant, pool, time.GetUtcNow(), $"{caller.Name} ({caller.KeyId})", expiresAt, null, null);
        var audited = Audited(caller, kind == CredentialKind.Key ? "key.create" : "token.create", null, credential);
        return new IssuedCredential(await store.CreateAsync(credential, CredentialSecrets.Hash(secret), default, audited), secret);
    }

    private async Task<Credential> RevokeAsync(Credential credential, Caller caller)
    {
        var audited = Audited(caller, credential.Kind == CredentialKind.Key ? "key.revoke" : "token.revoke", credential, credential);
        var revoked = await store.RevokeAsync(credential.Id, default, audited) ?? throw AdminException.NotFound($"Credential '{credential.Id}'");
        verifier.Forget(credential.Id);
        return revoked;
    }

    /// <summary>The audit record of a credential's change (never its secret, which is not even here); null when the trail is off.</summary>
    private Storage.AuditRow? Audited(Caller caller, string action, Credential? before, Credential after)
    {
        if (audit is { Enabled: false })
            return null;
        var resource = after.Kind == CredentialKind.Key ? $"/v1/keys/{after.Id}" : $"/v1/pools/{after.Pool}/tokens/{after.Id}";
        return new Storage.AuditRow(0, caller.KeyId, caller.Name, ChangeContext.Current?.RequestId, action, after.Tenant, resource,
            before is null ? null : Json(before), Json(after));
    }

    private static string Json(Credential c) => new System.Text.Json.Nodes.JsonObject
    {
        ["id"] = c.Id,
        ["kind"] = c.Kind == CredentialKind.Key ? "key" : "poolToken",
        ["name"] = c.Name,
        ["role"] = c.Role,
        ["tenant"] = c.Tenant,
        ["pool"] = c.Pool,
        ["createdBy"] = c.CreatedBy,
        ["expiresAt"] = c.ExpiresAt,
        ["revokedAt"] = c.RevokedAt,
    }.ToJsonString();

    private async Task<Credential?> FindAsync(string id, CredentialKind kind)
    {
        if (id.Length > 64)
            throw AdminException.Invalid("id", "is at most 64 characters.");
        return await store.FindAsync(id) is { Credential: var credential } && credential.Kind == kind ? credential : null;
    }

    private async Task<Page<Credential>> PageAsync(CredentialKind kind, string? tenant, string? pool, PageRequest page) =>
        page.Take(await store.ListAsync(kind, tenant, pool, page.Limit + 1, page.After?[0]), c => [c.Id]);

    private static Credential? Visible(Caller caller, Credential? credential) =>
        credential is null || caller.IsOperator || credential.Tenant == caller.Tenant ? credential : null;

    private static void EnsureManagesKeys(Caller caller)
    {
        if (!caller.IsOperator && caller.Role != Roles.TenantAdmin)
            throw AdminException.Forbidden($"A {caller.Role} key cannot manage keys.");
    }

    private static void ValidateName(string? name, List<FieldError> errors)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > MaxNameLength || name.Any(char.IsControl))
            errors.Add(new FieldError("name", $"is required: 1 to {MaxNameLength} printable characters saying whose it is."));
    }

    private void ValidateExpiry(DateTimeOffset? expiresAt, List<FieldError> errors)
    {
        if (expiresAt is { } at && at <= time.GetUtcNow())
            errors.Add(new FieldError("expiresAt", "must be in the future."));
    }
}
