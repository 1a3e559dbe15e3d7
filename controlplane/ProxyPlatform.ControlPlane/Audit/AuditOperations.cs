using System.Globalization;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Audit;

/// <summary>Makes the caller of an admin operation the author of the changes it makes (<see cref="ChangeContext"/>).</summary>
public static class AuditActor
{
    public static Caller Set(Caller caller, string? requestId)
    {
        ChangeContext.SetActor(caller.KeyId, caller.Name, requestId);
        return caller;
    }
}

/// <summary>A page of audit records, newest first, and the cursor of the next (older) page; null at the end.</summary>
public sealed record AuditPage(IReadOnlyList<AuditRecord> Items, string? Next);

/// <summary>
/// Reading the audit trail, for REST and gRPC alike: an operator reads all of it, a tenant's key only
/// its own tenant's records (<c>/v1/tenants/{t}/audit</c>).
/// </summary>
public sealed class AuditOperations(AuditStore store)
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    /// <summary>
    /// The records that match, <paramref name="tenantScope"/> being the tenant of <c>/v1/tenants/{t}/audit</c>
    /// (null: <c>/v1/audit</c>, the operator's).
    /// </summary>
    public async Task<AuditPage> List(Caller caller, string? tenantScope, string? tenant, string? actor, string? resource, string? since, string? limit, string? after, CancellationToken ct = default)
    {
        if (tenantScope is null)
            caller.EnsureOperator("read the whole audit trail");
        else
        {
            caller.EnsureCanRead(tenantScope);
            tenant = tenantScope;
        }
        var errors = new List<FieldError>();
        var size = DefaultLimit;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size < 1 || size > MaxLimit))
            errors.Add(new FieldError("limit", $"'{limit}' is not a page size: expected a whole number from 1 to {MaxLimit}."));
        long? cursor = null;
        if (after is not null)
        {
            if (long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0)
                cursor = id;
            else
                errors.Add(new FieldError("after", $"'{after}' is not a cursor of the audit trail: pass the 'next' of the previous page."));
        }
        DateTimeOffset? from = null;
        if (since is not null)
        {
            if (DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
                from = at;
            else
                errors.Add(new FieldError("since", $"'{since}' is not a time: expected ISO 8601, e.g. 2026-01-31T12:00:00Z."));
        }
        if (resource is { Length: > 500 })
            errors.Add(new FieldError("resource", "is at most 500 characters."));
        if (errors.Count > 0)
            throw AdminException.Invalid(errors);

        var items = await store.ListAsync(new AuditQuery(Blank(tenant), Blank(actor), Blank(resource), from, cursor, size + 1), ct);
        if (items.Count <= size)
            return new AuditPage(items, null);
        items.RemoveAt(size);
        return new AuditPage(items, items[^1].Id.ToString(CultureInfo.InvariantCulture));
    }

    private static string? Blank(string? value) => string.IsNullOrEmpty(value) ? null : value;
}

/// <summary>
/// Deletes audit records older than <c>Audit:RetentionDays</c>, every <c>Audit:RetentionCheckEvery</c>,
/// from whichever node takes the advisory lock first (the others skip that round).
/// </summary>
public sealed class AuditRetention(AuditStore store, AuditOptions options, TimeProvider time, ILogger<AuditRetention> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.RetentionCheckEvery, time);
        do
        {
            try
            {
                var deleted = await store.DeleteOlderThanAsync(time.GetUtcNow().AddDays(-options.RetentionDays), stoppingToken);
                if (deleted > 0)
                    logger.LogInformation("Audit retention: deleted {Count} record(s) older than {Days} days", deleted, options.RetentionDays);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Audit retention failed; trying again next round");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
