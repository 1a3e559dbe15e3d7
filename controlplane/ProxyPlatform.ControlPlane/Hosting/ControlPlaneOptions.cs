using ProxyPlatform.Configuration;
using ProxyPlatform.Http;

namespace ProxyPlatform.ControlPlane.Hosting;

/// <summary>The control plane's settings, read from DESIGN.md's configuration keys.</summary>
public sealed record ControlPlaneOptions
{
    public required string PostgresConnectionString { get; init; }
    /// <summary>The REST admin listener (<c>Admin:Url</c>); port 0 lets the operating system choose, and the ready line says which.</summary>
    public Uri AdminUrl { get; init; } = new("http://127.0.0.1:5100");
    /// <summary>The gRPC listener (<c>Grpc:Url</c>); port 0 as for <see cref="AdminUrl"/>.</summary>
    public Uri GrpcUrl { get; init; } = new("http://127.0.0.1:5101");
    /// <summary>Health, readiness and Prometheus metrics, without credentials: keep it off public networks.</summary>
    public Uri OpsUrl { get; init; } = new("http://127.0.0.1:5102");
    public string ClusterId { get; init; } = "proxyplatform";
    public string ServiceId { get; init; } = "proxyplatform";
    public int SiloPort { get; init; } = 11111;
    public int GatewayPort { get; init; } = 30000;
    /// <summary>The address other silos reach this one at; <c>hostname</c> resolves the machine's name.</summary>
    public string AdvertisedIP { get; init; } = "127.0.0.1";
    /// <summary>
    /// A worker heartbeats every 10 s (by default); one silent for this long is shown as
    /// disconnected even if its stream looks open (<c>DataPlanes:SilenceSeconds</c>, default 30).
    /// </summary>
    public TimeSpan WorkerSilence { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// A worker record (<c>/v1/dataplanes</c>, its grain's row) is deleted once the worker has been
    /// disconnected this long (<c>DataPlanes:ExpireAfter</c>, a time span, default one hour).
    /// </summary>
    public TimeSpan WorkerExpiry { get; init; } = TimeSpan.FromHours(1);
    /// <summary>
    /// A connected worker is <c>stale</c> once the oldest revision of its pool that it has not applied was
    /// committed longer ago than this (<c>DataPlanes:StaleAfterSeconds</c>, default 30).
    /// </summary>
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// A connected worker is also <c>stale</c> once it lags more than this many of its pool's revisions
    /// (<c>DataPlanes:StaleAfterRevisions</c>; unset: no bound by count).
    /// </summary>
    public long? StaleAfterRevisions { get; init; }
    /// <summary>
    /// Tombstones of removed resources are kept at least this long (<c>Distribution:TombstoneGrace</c>,
    /// default 10 minutes) even once every connected worker has applied past them, so that a worker
    /// that restarts within it resumes with a delta rather than a snapshot.
    /// </summary>
    public TimeSpan TombstoneGrace { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>How often a pool looks for tombstones it can prune (<c>Distribution:PruneEvery</c>, default 30 s).</summary>
    public TimeSpan PruneEvery { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>The bootstrap operator key (<c>Auth:OperatorKey</c>): required unless authentication is disabled.</summary>
    public string? OperatorKey { get; init; }
    /// <summary>The bootstrap worker token (<c>Auth:DataPlaneToken</c>): a worker of any pool.</summary>
    public string? DataPlaneToken { get; init; }
    /// <summary><c>Auth:Disabled</c>: no credentials at all, allowed only when every listener is on loopback.</summary>
    public bool AuthDisabled { get; init; }
    /// <summary>Failed authentications a client address may make in a row before it is slowed down (<c>Auth:FailedAttemptsBurst</c>).</summary>
    public int FailedAttemptsBurst { get; init; } = 20;
    /// <summary>
    /// How long a change may wait to be committed (<c>Distribution:CommitDeadlineSeconds</c>, default 8):
    /// less than the 10 s after which its caller is answered 503, so a change whose caller was told
    /// "nothing was acknowledged" is dropped or cancelled instead of committed later.
    /// </summary>
    public TimeSpan CommitDeadline { get; init; } = TimeSpan.FromSeconds(8);
    /// <summary>
    /// How long a silo waits for a peer's answer to a membership probe (<c>Orleans:ProbeTimeoutSeconds</c>,
    /// default 2). With <see cref="MissedProbesLimit"/> it decides how soon a dead silo's grains move, and how
    /// long a stall (GC, an overloaded machine) a live silo survives without being voted dead.
    /// </summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Missed probes in a row before a peer votes a silo dead (<c>Orleans:MissedProbesLimit</c>, default 3).</summary>
    public int MissedProbesLimit { get; init; } = 3;
    /// <summary>How long a grain call may take before its caller gives up (Orleans' response time-out).</summary>
    public static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(10);
    /// <summary>
    /// Refuse route writes that leave a route fully shadowed, and report overlaps (<c>Routing:OverlapAnalysis</c>,
    /// default true; the benchmark turns it off to measure its cost).
    /// </summary>
    public bool OverlapAnalysis { get; init; } = true;
    /// <summary>The quotas of a tenant that sets none of its own (<c>Tenancy:Quotas:*</c>).</summary>
    public TenantQuotas DefaultQuotas { get; init; } = new()
    {
        MaxRoutes = 10_000,
        MaxClusters = 1_000,
        MaxBackends = 10_000,
        MaxHostnames = 100,
    };

    public static ControlPlaneOptions From(IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString("Postgres");
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException(
                "ConnectionStrings:Postgres is required (e.g. --ConnectionStrings:Postgres=\"Host=127.0.0.1;Port=5432;Username=postgres;Database=proxyplatform\").");
        var defaults = new ControlPlaneOptions { PostgresConnectionString = connectionString };
        var options = defaults with
        {
            AdminUrl = ListenerAddress.Parse(configuration, "Admin:Url", defaults.AdminUrl, https: true),
            GrpcUrl = ListenerAddress.Parse(configuration, "Grpc:Url", defaults.GrpcUrl, https: true),
            OpsUrl = ListenerAddress.Parse(configuration, "Ops:Url", defaults.OpsUrl, https: true),
            ClusterId = configuration["Orleans:ClusterId"] ?? defaults.ClusterId,
            ServiceId = configuration["Orleans:ServiceId"] ?? defaults.ServiceId,
            SiloPort = configuration.GetValue("Orleans:SiloPort", defaults.SiloPort),
            GatewayPort = configuration.GetValue("Orleans:GatewayPort", defaults.GatewayPort),
            AdvertisedIP = configuration["Orleans:AdvertisedIP"] ?? defaults.AdvertisedIP,
            ProbeTimeout = TimeSpan.FromSeconds(configuration.GetValue("Orleans:ProbeTimeoutSeconds", defaults.ProbeTimeout.TotalSeconds)),
            MissedProbesLimit = configuration.GetValue("Orleans:MissedProbesLimit", defaults.MissedProbesLimit),
            WorkerSilence = TimeSpan.FromSeconds(configuration.GetValue("DataPlanes:SilenceSeconds", defaults.WorkerSilence.TotalSeconds)),
            WorkerExpiry = configuration.GetValue("DataPlanes:ExpireAfter", defaults.WorkerExpiry),
            StaleAfter = TimeSpan.FromSeconds(configuration.GetValue("DataPlanes:StaleAfterSeconds", defaults.StaleAfter.TotalSeconds)),
            StaleAfterRevisions = configuration.GetValue<long?>("DataPlanes:StaleAfterRevisions"),
            TombstoneGrace = configuration.GetValue("Distribution:TombstoneGrace", defaults.TombstoneGrace),
            PruneEvery = configuration.GetValue("Distribution:PruneEvery", defaults.PruneEvery),
            OperatorKey = Blank(configuration["Auth:OperatorKey"]),
            DataPlaneToken = Blank(configuration["Auth:DataPlaneToken"]),
            AuthDisabled = configuration.GetValue("Auth:Disabled", false),
            FailedAttemptsBurst = configuration.GetValue("Auth:FailedAttemptsBurst", defaults.FailedAttemptsBurst),
            CommitDeadline = TimeSpan.FromSeconds(configuration.GetValue("Distribution:CommitDeadlineSeconds", defaults.CommitDeadline.TotalSeconds)),
            OverlapAnalysis = configuration.GetValue("Routing:OverlapAnalysis", defaults.OverlapAnalysis),
            DefaultQuotas = new TenantQuotas
            {
                MaxRoutes = configuration.GetValue("Tenancy:Quotas:MaxRoutes", defaults.DefaultQuotas.MaxRoutes),
                MaxClusters = configuration.GetValue("Tenancy:Quotas:MaxClusters", defaults.DefaultQuotas.MaxClusters),
                MaxBackends = configuration.GetValue("Tenancy:Quotas:MaxBackends", defaults.DefaultQuotas.MaxBackends),
                MaxHostnames = configuration.GetValue("Tenancy:Quotas:MaxHostnames", defaults.DefaultQuotas.MaxHostnames),
                MaxRequestBodyBytes = configuration.GetValue<long?>("Tenancy:Quotas:MaxRequestBodyBytes"),
            },
        };
        return options.Checked();
    }

    /// <summary>
    /// Refuses to run open: without a bootstrap operator key the control plane starts only when
    /// <c>Auth:Disabled=true</c> says so and nothing but this machine can reach it.
    /// </summary>
    private ControlPlaneOptions Checked()
    {
        var ports = new[] { AdminUrl.Port, GrpcUrl.Port, OpsUrl.Port }.Where(p => p != 0).ToList();
        if (ports.Count != ports.Distinct().Count())
            throw new InvalidOperationException($"Admin:Url ({AdminUrl}), Grpc:Url ({GrpcUrl}) and Ops:Url ({OpsUrl}) must use different ports: the port a request arrives on decides which of them answers.");
        if (ProbeTimeout < TimeSpan.FromMilliseconds(100) || ProbeTimeout > TimeSpan.FromSeconds(60))
            throw new InvalidOperationException($"Orleans:ProbeTimeoutSeconds must be from 0.1 to 60; got {ProbeTimeout.TotalSeconds}.");
        if (MissedProbesLimit is < 1 or > 10)
            throw new InvalidOperationException($"Orleans:MissedProbesLimit must be from 1 to 10; got {MissedProbesLimit}.");
        if (WorkerExpiry <= TimeSpan.Zero)
            throw new InvalidOperationException($"DataPlanes:ExpireAfter must be a positive time span (e.g. 01:00:00); got {WorkerExpiry}.");
        if (StaleAfter <= TimeSpan.Zero)
            throw new InvalidOperationException($"DataPlanes:StaleAfterSeconds must be more than 0; got {StaleAfter.TotalSeconds}.");
        if (StaleAfterRevisions is < 1)
            throw new InvalidOperationException($"DataPlanes:StaleAfterRevisions must be at least 1 when set; got {StaleAfterRevisions}.");
        if (TombstoneGrace < TimeSpan.Zero)
            throw new InvalidOperationException($"Distribution:TombstoneGrace must not be negative; got {TombstoneGrace}.");
        if (PruneEvery <= TimeSpan.Zero)
            throw new InvalidOperationException($"Distribution:PruneEvery must be a positive time span (e.g. 00:00:30); got {PruneEvery}.");
        if (FailedAttemptsBurst < 1)
            throw new InvalidOperationException($"Auth:FailedAttemptsBurst must be at least 1; got {FailedAttemptsBurst}.");
        if (!(CommitDeadline > TimeSpan.FromSeconds(0.5) && CommitDeadline < ResponseTimeout))
            throw new InvalidOperationException($"Distribution:CommitDeadlineSeconds must be more than 0.5 and less than {ResponseTimeout.TotalSeconds} (the grain call time-out); got {CommitDeadline.TotalSeconds}.");
        if (ConfigValidator.Validate(new TenantSpec { Hostnames = ["quotas.check"], Quotas = DefaultQuotas }) is { Count: > 0 } quotaErrors)
            throw new InvalidOperationException($"Tenancy:Quotas is out of range: {string.Join("; ", quotaErrors.Select(e => $"{e.Field}: {e.Message}"))}");
        if (OperatorKey is { Length: < 16 })
            throw new InvalidOperationException("Auth:OperatorKey must be at least 16 characters: it is the key to everything.");
        if (DataPlaneToken is { Length: < 16 })
            throw new InvalidOperationException("Auth:DataPlaneToken must be at least 16 characters.");
        if (OperatorKey is not null)
            return this;
        if (!AuthDisabled)
            throw new InvalidOperationException(
                "Auth:OperatorKey is not set: the control plane does not run without credentials. Set Auth:OperatorKey to a long random secret " +
                "(infra/run.sh generates one), or, on a developer's machine with every listener on loopback, Auth:Disabled=true.");
        var exposed = new[] { ("Admin:Url", AdminUrl), ("Grpc:Url", GrpcUrl), ("Ops:Url", OpsUrl), ("Orleans:AdvertisedIP", new Uri($"http://{AdvertisedIP}/")) }
            .Where(l => !ListenerAddress.IsLoopback(l.Item2)).Select(l => $"{l.Item1} ({l.Item2.Host})").ToList();
        if (exposed.Count > 0)
            throw new InvalidOperationException(
                $"Auth:Disabled=true is allowed only when every listener is on loopback; {string.Join(", ", exposed)} is not. Set Auth:OperatorKey instead.");
        return this;
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
