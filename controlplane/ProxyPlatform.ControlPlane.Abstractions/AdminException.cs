using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane;

public enum AdminErrorKind
{
    /// <summary>The input is malformed or breaks a rule; nothing was changed.</summary>
    Invalid = 1,
    NotFound = 2,
    /// <summary>An <c>If-Match</c> precondition did not hold.</summary>
    PreconditionFailed = 3,
    /// <summary>The change conflicts with other configuration (e.g. a cluster still used by routes).</summary>
    Conflict = 4,
    /// <summary>The caller's credential does not allow this operation.</summary>
    Forbidden = 5,
    /// <summary>The request is too large to take in.</summary>
    TooLarge = 6,
    /// <summary>The write would take the tenant past one of its quotas (<see cref="AdminException.Quota"/>).</summary>
    QuotaExceeded = 7,
    /// <summary>The control plane holds as much pending work as it takes; nothing was changed, retry shortly.</summary>
    Busy = 8,
    /// <summary>The write would leave a route fully shadowed by other routes of its tenant (<see cref="AdminException.Shadowed"/>).</summary>
    RouteShadowed = 9,
    /// <summary>Another party (a worker) did not answer in time; nothing was changed.</summary>
    Timeout = 10,
}

/// <summary>
/// A rejected admin operation, as a value the caller can act on: what kind of failure, and the
/// fields at fault. REST turns it into problem+json, gRPC into a status with the same message.
/// </summary>
[GenerateSerializer, Alias("pp.AdminException")]
public sealed class AdminException : Exception
{
    public AdminException(AdminErrorKind kind, string message, IReadOnlyList<FieldError>? errors = null)
        : base(message)
    {
        Kind = kind;
        Errors = errors ?? [];
    }

    public AdminException()
    {
    }

    public AdminException(string message) : base(message)
    {
    }

    public AdminException(string message, Exception innerException) : base(message, innerException)
    {
    }

    [Id(0)]
    public AdminErrorKind Kind { get; private set; }

    [Id(1)]
    public IReadOnlyList<FieldError> Errors { get; private set; } = [];

    /// <summary>For <see cref="AdminErrorKind.QuotaExceeded"/>: which quota, its limit, the current use.</summary>
    [Id(2)]
    public QuotaExcess? Quota { get; private set; }

    /// <summary>For <see cref="AdminErrorKind.RouteShadowed"/>: the route (<c>tenant/route</c>) that would never answer.</summary>
    [Id(3)]
    public string? Route { get; private set; }

    /// <summary>For <see cref="AdminErrorKind.RouteShadowed"/>: the routes that would take all of its requests.</summary>
    [Id(4)]
    public IReadOnlyList<string> ShadowedBy { get; private set; } = [];

    public static AdminException Shadowed(string route, IReadOnlyList<string> shadowedBy, string? writtenRoute) =>
        new(AdminErrorKind.RouteShadowed,
            (writtenRoute is null || writtenRoute == route
                ? $"Route '{route}' would never answer: route(s) {string.Join(", ", shadowedBy)} take every request it matches."
                : $"Route '{writtenRoute}' would leave route '{route}' never answering: route(s) {string.Join(", ", shadowedBy)} would take every request it matches.") +
            $" Make the routes differ (hosts, path prefix, methods, headers, priority), or set allowShadowed on route '{route}' (PUT ?allowShadowed=true).")
        {
            Route = route,
            ShadowedBy = shadowedBy,
        };

    public static AdminException QuotaExceeded(string tenant, QuotaExcess quota) =>
        new(AdminErrorKind.QuotaExceeded, $"Tenant '{tenant}' is at its quota {quota.Quota} ({quota.Limit}; it uses {quota.Use}): the write would exceed it.") { Quota = quota };

    public static AdminException Invalid(IReadOnlyList<FieldError> errors) =>
        new(AdminErrorKind.Invalid, string.Join("; ", errors.Select(e => e.Field.Length == 0 ? e.Message : $"{e.Field}: {e.Message}")), errors);

    public static AdminException Invalid(string field, string message) => Invalid([new FieldError(field, message)]);

    public static AdminException NotFound(string what) => new(AdminErrorKind.NotFound, $"{what} does not exist.");

    public static AdminException PreconditionFailed(string what, string? current) =>
        new(AdminErrorKind.PreconditionFailed,
            current is null ? $"{what} does not exist, so If-Match cannot hold." : $"{what} has ETag {current}, not the one given in If-Match.");

    public static AdminException Busy(string message) => new(AdminErrorKind.Busy, message);

    public static AdminException Timeout(string message) => new(AdminErrorKind.Timeout, message);

    public static AdminException Conflict(string message) => new(AdminErrorKind.Conflict, message);

    public static AdminException Forbidden(string message) => new(AdminErrorKind.Forbidden, message);

    public static AdminException TooLarge(string field, string message) => new(AdminErrorKind.TooLarge, $"{field}: {message}", [new FieldError(field, message)]);
}

/// <summary>
/// PostgreSQL (or the network to it) failed in a way a retry can outlive, inside a grain. Npgsql's own
/// exceptions have no Orleans codec, so a grain call that ended in one reached its caller as a
/// <c>CodecNotFoundException</c> (a 500); this one crosses silos, and the admin APIs answer it 503.
/// </summary>
[GenerateSerializer, Alias("pp.StorageUnavailableException")]
public sealed class StorageUnavailableException : Exception
{
    public StorageUnavailableException(string message) : base(message)
    {
    }

    public StorageUnavailableException()
    {
    }
}
