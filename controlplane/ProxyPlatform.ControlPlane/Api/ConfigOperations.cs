using System.Globalization;
using System.Text.Json.Nodes;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Access;
using ProxyPlatform.ControlPlane.Documents;
using ProxyPlatform.ControlPlane.Storage;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>
/// A tenant's whole configuration as one document, for both APIs: read it (now, or as of a revision within
/// history's retention), apply one, roll back to a revision. The caller's right to the tenant is checked
/// first; a document is read and validated by <see cref="ConfigDocument.Read"/>, the same validators as
/// single writes, then applied by the tenant's <see cref="ITenantConfigGrain"/> as one change.
/// </summary>
public sealed class ConfigOperations(IGrainFactory grains, ConfigHistory history, HistoryOptions options)
{
    /// <summary>The document and its ETag; <paramref name="revision"/> (as sent) reads it as it was then.</summary>
    public async Task<(JsonObject Document, string ETag)> Get(Caller caller, string tenant, string? revision)
    {
        var asOf = revision is null ? (long?)null : ParseRevision(revision);
        await EnsureTenant(caller, tenant, write: false);
        if (asOf is { } r)
        {
            await history.EnsureKnownAsync(r, options.Retention);
            var entries = await history.AsOfAsync(tenant, r);
            return (ConfigDocument.Render(tenant, r, entries), ConfigDocument.ETagOf(entries));
        }
        var (current, newest) = await history.CurrentAsync(tenant);
        return (ConfigDocument.Render(tenant, newest, current), ConfigDocument.ETagOf(current));
    }

    /// <summary>Makes the document the tenant's configuration as one revision (or, dry, says what that would change).</summary>
    public async Task<(JsonObject Answer, string? ETag)> Apply(Caller caller, string tenant, JsonNode? document, string? ifMatch, bool dryRun)
    {
        await EnsureTenant(caller, tenant, write: true);
        var desired = ConfigDocument.Read(tenant, document);
        ChangeContext.Action = "config.apply";
        try
        {
            var outcome = await grains.GetGrain<ITenantConfigGrain>(tenant).Apply(desired, ifMatch, dryRun);
            return (ConfigDocument.Answer(outcome, dryRun), dryRun ? null : ConfigDocument.ETagOf(desired));
        }
        finally
        {
            ChangeContext.Action = null;
        }
    }

    /// <summary>
    /// Makes the configuration of <paramref name="revision"/> current again, as one new revision, through the same
    /// validation and checks as an apply: refused, with the reason, when it would now break an invariant.
    /// </summary>
    public async Task<(JsonObject Answer, string? ETag)> Rollback(Caller caller, string tenant, long? revision, bool dryRun)
    {
        await EnsureTenant(caller, tenant, write: true);
        if (revision is not { } r || r <= 0)
            throw AdminException.Invalid("revision", "the revision to roll back to is required: {\"revision\": N}, a positive whole number.");
        await history.EnsureKnownAsync(r, options.Retention);
        var document = ConfigDocument.Render(tenant, r, await history.AsOfAsync(tenant, r));
        var desired = ConfigDocument.Read(tenant, document);
        ChangeContext.Action = "rollback";
        try
        {
            var outcome = await grains.GetGrain<ITenantConfigGrain>(tenant).Apply(desired, null, dryRun);
            return (ConfigDocument.Answer(outcome, dryRun), dryRun ? null : ConfigDocument.ETagOf(desired));
        }
        finally
        {
            ChangeContext.Action = null;
        }
    }

    public static long ParseRevision(string revision) =>
        long.TryParse(revision, NumberStyles.None, CultureInfo.InvariantCulture, out var r) && r > 0
            ? r
            : throw AdminException.Invalid("revision", $"'{revision}' is not a revision: expected a positive whole number.");

    private async Task EnsureTenant(Caller caller, string tenant, bool write)
    {
        if (ConfigValidator.ValidateId("tenant", tenant) is { Count: > 0 } errors)
            throw AdminException.Invalid(errors);
        caller.EnsureCanRead(tenant);
        if (write)
            caller.EnsureCanWrite(tenant);
        if (await grains.GetGrain<ITenantGrain>(tenant).Get() is null)
            throw AdminException.NotFound($"Tenant '{tenant}'");
    }
}
