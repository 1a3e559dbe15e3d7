using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using ProxyPlatform.ControlPlane.Hosting;

namespace ProxyPlatform.ControlPlane.Access;

/// <summary>The outcome of checking a presented secret: the credential it proves, or why it proves nothing.</summary>
public readonly record struct Verification(Credential? Credential, string? Failure)
{
    public static Verification Failed(string why) => new(null, why);
}

/// <summary>
/// Checks presented secrets against the stored hashes, from a node-local cache that a background loop
/// refreshes from PostgreSQL every <see cref="RefreshPeriod"/>, so that a request costs a lookup and a
/// SHA-256, not a query, and a revocation made on any node holds on this one within a second. A
/// cache entry older than <see cref="Freshness"/> (the refresh is failing) is never trusted: the
/// request then reads the row itself.
/// </summary>
public sealed class CredentialVerifier(CredentialStore store, ControlPlaneOptions options, TimeProvider time, ILogger<CredentialVerifier> logger)
    : BackgroundService
{
    public static readonly TimeSpan RefreshPeriod = TimeSpan.FromMilliseconds(400);
    public static readonly TimeSpan Freshness = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Idle = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan TouchEvery = TimeSpan.FromMinutes(1);
    private const int MaxCached = 100_000;

    /// <summary>The bootstrap operator key's principal fields (not stored: it lives in configuration).</summary>
    public static readonly Credential BootstrapOperator = new("bootstrap", CredentialKind.Key, "bootstrap", Roles.Operator, null, null,
        DateTimeOffset.UnixEpoch, "configuration", null, null, null);

    /// <summary>The bootstrap worker token's (<c>Auth:DataPlaneToken</c>): a worker of any pool.</summary>
    public static readonly Credential BootstrapWorker = new("bootstrap-worker", CredentialKind.PoolToken, "bootstrap", Roles.Worker, null, null,
        DateTimeOffset.UnixEpoch, "configuration", null, null, null);

    private readonly byte[]? _operatorKeyHash = options.OperatorKey is { } key ? CredentialSecrets.Hash(key) : null;
    private readonly byte[]? _workerTokenHash = options.DataPlaneToken is { } token ? CredentialSecrets.Hash(token) : null;
    private readonly ConcurrentDictionary<string, Entry> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<Entry>> _loading = new(StringComparer.Ordinal);

    /// <param name="lookUp">False to refuse, rather than read, a credential this node does not have cached (a throttled client's).</param>
    public async ValueTask<Verification> VerifyAsync(string presented, bool lookUp, CancellationToken ct)
    {
        if (_operatorKeyHash is not null && CryptographicOperations.FixedTimeEquals(CredentialSecrets.Hash(presented), _operatorKeyHash))
            return new Verification(BootstrapOperator, null);
        if (_workerTokenHash is not null && CryptographicOperations.FixedTimeEquals(CredentialSecrets.Hash(presented), _workerTokenHash))
            return new Verification(BootstrapWorker, null);
        if (!CredentialSecrets.TryParse(presented, out var kind, out var id))
            return Verification.Failed("not a ProxyPlatform key or token");

        if (!lookUp && !_cache.ContainsKey(id))
            return Verification.Failed($"too many failed attempts from this address (credential {id} not checked)");
        var entry = await CurrentAsync(id, ct);
        entry.LastUsed = Stopwatch.GetTimestamp();
        if (entry.Credential is not { } credential || entry.SecretHash is null || credential.Kind != kind)
            return Verification.Failed($"unknown credential {id}");
        if (!CredentialSecrets.Matches(presented, entry.SecretHash))
            return Verification.Failed($"wrong secret for credential {id}");
        var now = time.GetUtcNow();
        if (credential.RevokedAt is not null)
            return Verification.Failed($"credential {id} was revoked");
        if (credential.ExpiresAt <= now)
            return Verification.Failed($"credential {id} expired");
        RecordUse(entry, credential, now);
        return new Verification(credential, null);
    }

    /// <summary>
    /// False once the credential with the ID <paramref name="credential"/> is known to be revoked or
    /// expired (a stream opened with it is then closed); a bootstrap credential stays valid for the
    /// life of the process.
    /// </summary>
    public async ValueTask<bool> IsStillValidAsync(string credential, CancellationToken ct)
    {
        if (credential == BootstrapOperator.Id || credential == BootstrapWorker.Id)
            return true;
        var entry = await CurrentAsync(credential, ct);
        entry.LastUsed = Stopwatch.GetTimestamp();
        return entry.Credential?.IsValidAt(time.GetUtcNow()) == true;
    }

    /// <summary>Drops what this node knows of a credential that was just changed here (revoked, deleted).</summary>
    public void Forget(string id) => _cache.TryRemove(id, out _);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(RefreshPeriod, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var now = Stopwatch.GetTimestamp();
            foreach (var (id, entry) in _cache)
            {
                if (Stopwatch.GetElapsedTime(entry.LastUsed, now) > Idle)
                    _cache.TryRemove(id, out _);
            }
            if (_cache.IsEmpty)
                continue;
            try
            {
                var ids = _cache.Keys.ToList();
                var rows = await store.FindAllAsync(ids, stoppingToken);
                var refreshed = Stopwatch.GetTimestamp();
                foreach (var id in ids)
                {
                    var row = rows.GetValueOrDefault(id);
                    _cache.AddOrUpdate(id,
                        _ => new Entry(row.Credential, row.SecretHash, refreshed),
                        (_, old) => new Entry(row.Credential, row.SecretHash, refreshed) { LastUsed = old.LastUsed, LastTouched = old.LastTouched });
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Refreshing {Count} cached credentials failed; requests read them directly until it works again", _cache.Count);
            }
        }
    }

    private async ValueTask<Entry> CurrentAsync(string id, CancellationToken ct)
    {
        if (_cache.TryGetValue(id, out var entry) && Stopwatch.GetElapsedTime(entry.RefreshedAt) < Freshness)
            return entry;
        // One read per ID at a time, however many requests present it at once.
        var loading = _loading.GetOrAdd(id, LoadAsync);
        try
        {
            return await loading.WaitAsync(ct);
        }
        finally
        {
            if (loading.IsCompleted)
                _loading.TryRemove(new KeyValuePair<string, Task<Entry>>(id, loading));
        }
    }

    private async Task<Entry> LoadAsync(string id)
    {
        var row = await store.FindAsync(id);
        var entry = new Entry(row?.Credential, row?.SecretHash, Stopwatch.GetTimestamp());
        if (_cache.Count < MaxCached || _cache.ContainsKey(id))
        {
            _cache.AddOrUpdate(id, entry, (_, old) =>
            {
                entry.LastTouched = old.LastTouched;
                return entry;
            });
        }
        return entry;
    }

    /// <summary>Stamps the credential's last use in PostgreSQL at most once a minute from this node.</summary>
    private void RecordUse(Entry entry, Credential credential, DateTimeOffset now)
    {
        var last = entry.LastTouched;
        if (last != 0 && Stopwatch.GetElapsedTime(last) < TouchEvery)
            return;
        entry.LastTouched = Stopwatch.GetTimestamp();
        _ = TouchAsync(credential.Id, now);
    }

    private async Task TouchAsync(string id, DateTimeOffset at)
    {
        try
        {
            await store.TouchAsync(id, at);
        }
        catch (Exception ex)
        {
            logger.LogDebug(ex, "Recording the last use of credential {Id} failed", id);
        }
    }

    /// <summary>What this node knows of one credential ID (null when there is none), and since when.</summary>
    private sealed class Entry(Credential? credential, byte[]? secretHash, long refreshedAt)
    {
        public Credential? Credential { get; } = credential;
        public byte[]? SecretHash { get; } = secretHash;
        public long RefreshedAt { get; } = refreshedAt;
        public long LastUsed { get; set; } = Stopwatch.GetTimestamp();
        public long LastTouched { get; set; }
    }
}
