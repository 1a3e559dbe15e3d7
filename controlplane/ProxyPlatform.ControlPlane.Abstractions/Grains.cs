using Orleans.Concurrency;
using ProxyPlatform.Configuration;

namespace ProxyPlatform.ControlPlane;

/// <summary>A tenant's settings: display name, claimed host names and the pool that serves it. Key: tenant ID.</summary>
public interface ITenantGrain : IGrainWithStringKey
{
    Task<TenantResource?> Get();
    /// <summary>The pool serving this tenant; fails with NotFound when the tenant does not exist.</summary>
    Task<string> GetPool();
    Task<WriteResult<TenantResource>> Put(TenantSpec spec, string? ifMatch);
    Task<long> Delete(string? ifMatch);
}

/// <summary>
/// Who owns each host name, platform-wide (DESIGN.md, "Tenancy"): every tenant write passes through
/// this one grain, so two tenants' concurrent claims on one host, from any silo and for any pools,
/// are checked one after the other and cannot both win. Key: <see cref="HostRegistry.Key"/>.
/// </summary>
public interface IHostRegistryGrain : IGrainWithStringKey
{
    /// <summary>
    /// Commits a tenant's settings (null: its deletion) once its claims overlap no other tenant's and
    /// its pool exists; moving pools removes it from <paramref name="fromPool"/> first. Returns the revision.
    /// </summary>
    Task<long> Commit(string tenant, string? fromPool, TenantSpec? spec);
    /// <summary>What breaks the one-owner rule in data from before it (for one tenant, or all).</summary>
    Task<IReadOnlyList<HostConflict>> GetConflicts(string? tenant);
}

public static class HostRegistry
{
    public const string Key = "platform";
}

/// <summary>A tenant's claim that breaks the one-owner rule: a host another tenant also claims, or no host at all.</summary>
[GenerateSerializer, Immutable, Alias("pp.HostConflict")]
public sealed record HostConflict(
    [property: Id(0)] string Tenant,
    [property: Id(1)] string? Host,
    [property: Id(2)] string? OtherTenant,
    [property: Id(3)] string? OtherHost)
{
    public string Describe() => Host is null
        ? $"tenant '{Tenant}' claims no host name"
        : $"host '{Host}' of tenant '{Tenant}' overlaps '{OtherHost}' of tenant '{OtherTenant}'";
}

/// <summary>A tenant's backend cluster with its backends (the cluster's backend registry). Key: <c>tenant/cluster</c>.</summary>
public interface IClusterGrain : IGrainWithStringKey
{
    Task<ClusterResource?> Get();
    Task<WriteResult<ClusterResource>> Put(ClusterSpec spec, string? ifMatch);
    Task<long> Delete(string? ifMatch);

    Task<BackendResource?> GetBackend(string backend);
    Task<IReadOnlyList<BackendResource>> ListBackends();
    Task<WriteResult<BackendResource>> PutBackend(string backend, BackendSpec spec, string? ifMatch);
    Task<long> DeleteBackend(string backend, string? ifMatch);
    /// <summary>Reads the cluster's committed row again, after a change committed around the grain (a configuration apply).</summary>
    Task Reload();
}

/// <summary>
/// A tenant's TLS certificate: uploaded, or ordered and renewed over ACME (one node at a time, as the
/// grain is one activation). Key: <c>tenant/certificate</c>.
/// </summary>
public interface ICertificateGrain : IGrainWithStringKey
{
    Task<CertificateView?> Get();
    /// <summary>Commits a validated certificate (its key already sealed, <c>CertificateSecrets.Sealed</c>), replacing an ACME order.</summary>
    Task<WriteResult<CertificateView>> PutUploaded(CheckedCertificate certificate, string? ifMatch);
    Task<long> Delete(string? ifMatch);
    /// <summary>Orders the certificate for <paramref name="hosts"/> (normalized, within the tenant's claims) over ACME, and keeps it renewed.</summary>
    Task<WriteResult<CertificateView>> PutAcme(IReadOnlyList<string> hosts, string? ifMatch);
    /// <summary>Forgets the certificate after its tenant was deleted (which removed its row): no renewal, nothing cached.</summary>
    Task Forget();
    /// <summary>Starts the ACME work that is due (an order, a retry, a renewal); returns when to ask again, or null when there is none.</summary>
    Task<DateTimeOffset?> Tick();
}

/// <summary>The platform's account at an ACME directory, created on first use. Key: the directory URL.</summary>
public interface IAcmeAccountGrain : IGrainWithStringKey
{
    Task<AcmeAccount> Get();
}

/// <summary>An ACME account: its key (PKCS#8 PEM, sealed for <c>acme-account:&lt;directory&gt;</c>) and URL.</summary>
[GenerateSerializer, Immutable, Alias("pp.AcmeAccount")]
public sealed record AcmeAccount([property: Id(0)] string SealedKey, [property: Id(1)] string Url);

/// <summary>
/// When each ACME-managed certificate next needs work (an order, a retry, a renewal): every node asks it
/// periodically (<c>Acme:CheckSeconds</c>) to wake the certificates that are due, so a renewal happens
/// even when nothing else activates the certificate's grain. Key: <see cref="HostRegistry.Key"/>.
/// </summary>
public interface IAcmeScheduleGrain : IGrainWithStringKey
{
    /// <summary>Records when the certificate (<c>tenant/certificate</c>) is next due; null forgets it.</summary>
    Task Schedule(string certificate, DateTimeOffset? due);
    /// <summary>Wakes the certificates that are due.</summary>
    Task Tick();
    /// <summary>The IDs of a tenant's ACME-managed certificates, issued or not.</summary>
    Task<IReadOnlyList<string>> ListOf(string tenant);
}

/// <summary>A tenant's route table. Key: tenant ID.</summary>
/// <remarks>
/// A route is written as the JSON of its validated <see cref="RouteSpec"/>, the form it is committed
/// in: strings cross between silos and within one without the copy and the type name that a
/// JSON-serialized model costs Orleans on every call.
/// </remarks>
public interface IRouteTableGrain : IGrainWithStringKey
{
    Task<RouteResource?> Get(string route);
    /// <summary>Commits the route unless it is unchanged; returns its revision and whether it was created.</summary>
    Task<(long Revision, bool Created)> Put(string route, string specJson, string? ifMatch);
    Task<long> Delete(string route, string? ifMatch);
    /// <summary>Reads the routes' committed rows again, after a change committed around the grain (a configuration apply).</summary>
    Task Reload(string[] routes);
}

/// <summary>
/// The configuration of one data-plane pool: the sequencer that gives every change its revision,
/// checks the invariants that span resources, stores the change in PostgreSQL and tells each
/// control-plane node that serves the pool's workers. Key: pool ID.
/// </summary>
public interface IDistributionGrain : IGrainWithStringKey
{
    /// <summary>Commits the entries as one change at a new revision, after checking cross-resource invariants.</summary>
    /// <remarks>An array rather than a list interface: Orleans copies the arguments of a call within a silo, and for an
    /// interface-typed collection it looks up the copier of the runtime type on every call (by reflection, ~4% of a
    /// silo's CPU while loading routes); an array of an immutable record has a copier fixed at compile time.</remarks>
    Task<long> Commit(ConfigEntry[] entries);
    /// <summary>Checks the entries as one change against the committed set, as <see cref="Commit"/> would, and commits nothing (a dry run).</summary>
    Task Check(ConfigEntry[] entries);
    Task<PoolSnapshot> GetSnapshot();
    /// <summary>
    /// The changes after <paramref name="revision"/>, removals included. When the tombstones after it have been
    /// pruned the delta starts later (its base is above <paramref name="revision"/>): the caller needs a snapshot.
    /// </summary>
    Task<ConfigDelta> GetChangesSince(long revision);
    /// <summary>What a tenant of the pool stores, against its quotas.</summary>
    Task<TenantUsage> GetUsage(string tenant);
    /// <summary>The committed routes of the tenant that can take some of the same requests as <paramref name="route"/> (at most <c>TenantOverlaps.MaxReported</c>).</summary>
    Task<RouteOverlapView[]> GetOverlaps(string tenant, string route);
    /// <summary>Registers (or refreshes) a node's observer; it expires unless refreshed. Returns the pool's revision.</summary>
    Task<long> Subscribe(IConfigObserver observer);
    Task Unsubscribe(IConfigObserver observer);
    /// <summary>Tells every node's streams that <paramref name="worker"/> is to drain and leave; the node holding its stream sends it a Drain.</summary>
    [AlwaysInterleave]
    Task Drain(string worker, string reason);
}

/// <summary>A control-plane node that holds worker streams for a pool: one per node, not one per worker.</summary>
public interface IConfigObserver : IGrainObserver
{
    [OneWay]
    Task OnConfigChanged(ConfigDelta delta);

    /// <summary>
    /// The pool has forgotten its tombstones at or below <paramref name="revision"/>: every connected worker
    /// has applied past them, and a worker that comes back from before them is sent a snapshot.
    /// </summary>
    [OneWay]
    Task OnPruned(long revision);

    /// <summary>The worker is to drain and leave: the stream that holds it on this node (if any) tells it.</summary>
    [OneWay]
    Task OnDrain(string worker, string reason);
}
