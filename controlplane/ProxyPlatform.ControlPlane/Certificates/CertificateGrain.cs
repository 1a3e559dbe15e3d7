using System.Security.Cryptography;
using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Api;
using ProxyPlatform.ControlPlane.Certificates.Acme;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.Secrets;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Certificates;

/// <summary>Where an ACME-managed certificate stands; kept in grain storage, as none of it is distributed.</summary>
[GenerateSerializer]
public sealed class CertificateAcmeState
{
    [Id(0)] public List<string> Hosts { get; set; } = [];
    /// <summary><c>pending</c>, <c>ordering</c>, <c>valid</c> or <c>failed</c>.</summary>
    [Id(1)] public string State { get; set; } = "pending";
    [Id(2)] public string? LastError { get; set; }
    [Id(3)] public DateTimeOffset? LastErrorAt { get; set; }
    [Id(4)] public DateTimeOffset? NextAttemptAt { get; set; }
    [Id(5)] public DateTimeOffset? RenewAt { get; set; }
    [Id(6)] public int Failures { get; set; }
}

/// <summary>
/// A tenant's certificate, uploaded or ordered over ACME. Like every configuration grain its certificate
/// is its newest committed <c>config_resources</c> row, loaded when it activates: the row's spec is the
/// distributed <see cref="CertificateBundle"/> with its private key sealed (<see cref="CertificateSecrets"/>).
/// An ACME certificate's order state (hosts, errors, next attempt, renewal) is in grain storage.
/// </summary>
/// <remarks>
/// An order runs in the background of the activation, so GETs answer meanwhile; the grain being one
/// activation platform-wide is what makes one node at a time order a certificate. The order publishes its
/// HTTP-01 challenges as the certificate's <see cref="ResourceKind.AcmeChallenge"/> resource, waits until
/// the pool's connected workers have applied it, and only then asks the server to validate; the challenge
/// resource is removed when the order ends, whichever way.
/// </remarks>
public sealed class CertificateGrain(
    ConfigStore store, ConfigCommits commits, CertificateSecrets secrets, SecretKeyRing keys,
    [PersistentState("certificate-acme")] IPersistentState<CertificateAcmeState> acme,
    AcmeOptions options, AcmeHttp http, TimeProvider clock, ILogger<CertificateGrain> logger) : Grain, ICertificateGrain
{
    private static readonly TimeSpan RolloutWait = TimeSpan.FromSeconds(30);
    private bool _ordering;

    private CertificateBundle? _bundle;
    private CertificateFacts? _facts;
    private long _revision;

    private (string Tenant, string Certificate) Id => GrainKeys.Split(this.GetPrimaryKeyString());
    private ResourceKey Key => ResourceKey.OfCertificate(Id.Tenant, Id.Certificate);
    private string What => $"Certificate '{Id.Tenant}/{Id.Certificate}'";
    private bool IsAcme => acme.RecordExists && acme.State.Hosts.Count > 0;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (await store.GetLatestAsync(Key, cancellationToken) is { Json: { } json } row)
            Take(ConfigJson.Read<CertificateBundle>(json), row.Revision);
    }

    public Task<CertificateView?> Get() => Task.FromResult(Current());

    public async Task<WriteResult<CertificateView>> PutUploaded(CheckedCertificate certificate, string? ifMatch)
    {
        var existing = _bundle;
        ETags.Check(ifMatch, existing is null ? null : _revision, What);
        var bundle = certificate.Bundle;
        if (existing is not null && !IsAcme && existing.Chain == bundle.Chain && secrets.SameKey(Key, existing, bundle))
            return new(Current()!, _revision, false);
        var created = existing is null && !IsAcme;
        var revision = await CommitBundle(bundle);
        if (IsAcme)
            await StopAcme();
        return new(Current()!, revision, created);
    }

    public async Task<WriteResult<CertificateView>> PutAcme(IReadOnlyList<string> hosts, string? ifMatch)
    {
        var exists = _bundle is not null || IsAcme;
        ETags.Check(ifMatch, exists ? _revision : null, What);
        if (IsAcme && acme.State.Hosts.SequenceEqual(hosts))
            return new(Current()!, _revision, false);
        acme.State = new CertificateAcmeState { Hosts = [.. hosts], NextAttemptAt = clock.GetUtcNow() };
        await acme.WriteStateAsync();
        await Scheduled(acme.State.NextAttemptAt);
        StartOrder();
        return new(Current()!, _revision, !exists);
    }

    public Task<DateTimeOffset?> Tick()
    {
        if (!IsAcme)
            return Task.FromResult<DateTimeOffset?>(null);
        var now = clock.GetUtcNow();
        if (!_ordering && Due() <= now)
            StartOrder();
        // While an order runs, it reschedules itself when it ends; until then, ask again after it could have.
        return Task.FromResult<DateTimeOffset?>(_ordering ? now + options.OrderTimeout : Due());
    }

    private DateTimeOffset Due() => (acme.State.State == "valid" ? acme.State.RenewAt : acme.State.NextAttemptAt) ?? clock.GetUtcNow();

    private void StartOrder()
    {
        if (_ordering || options.DirectoryUrl is null)
            return;
        _ordering = true;
        _ = OrderAsync();
    }

    /// <summary>Orders the certificate once; success stores and distributes it, failure is recorded with the next attempt.</summary>
    private async Task OrderAsync()
    {
        var state = acme.State;
        var hosts = state.Hosts.ToList();
        var challengePublished = false;
        var challengeKey = ResourceKey.ChallengeOf(Id.Tenant, Id.Certificate);
        try
        {
            state.State = "ordering";
            await acme.WriteStateAsync();
            var directory = options.DirectoryUrl!;
            var account = await GrainFactory.GetGrain<IAcmeAccountGrain>(directory.AbsoluteUri).Get();
            if (!keys.TryOpen(account.SealedKey, AcmeAccountGrain.Purpose(directory.AbsoluteUri), out var accountPem, out var problem))
                throw new InvalidOperationException($"The ACME account key {problem}.");
            var accountKey = ECDsa.Create();
            accountKey.ImportFromPem(accountPem);
            using var jws = new AcmeJws(accountKey);
            var client = new AcmeClient(http.Client, directory, jws, account.Url);
            var pool = await GrainFactory.GetGrain<ITenantGrain>(Id.Tenant).GetPool();
            var issued = await client.OrderAsync(hosts, async challenges =>
            {
                var revision = await commits.CommitAsync(new ConfigEntry(challengeKey, 0, ConfigJson.Write(new AcmeChallengeSpec { Challenges = challenges })));
                challengePublished = true;
                // The server validates only once every connected worker of the pool answers the challenge.
                var rollout = await GrainFactory.GetGrain<IDataPlanePoolGrain>(pool).WaitForRollout(revision, RolloutWait);
                if (!rollout.Complete)
                    logger.LogWarning("ACME challenges of {Certificate} are not applied by worker(s) {Workers} after {Wait}; validating anyway",
                        Key, string.Join(", ", rollout.Pending.Select(w => w.Worker)), RolloutWait);
            }, options.OrderTimeout, CancellationToken.None);

            var errors = CertificateChecks.Check(issued.ChainPem, issued.KeyPem, clock.GetUtcNow(), out var certificate).ToList();
            if (certificate is not null)
            {
                var claims = (await GrainFactory.GetGrain<ITenantGrain>(Id.Tenant).Get())?.Spec.Hostnames.Select(HostNames.Normalize).ToList() ?? [];
                errors.AddRange(AdminOperations.CertificateNamesWithin(Id.Tenant, claims, certificate.Bundle.Names, "certificate"));
            }
            if (errors.Count > 0 || certificate is null)
                throw new InvalidOperationException($"The issued certificate was refused: {string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}"))}");
            if (!IsAcme || !acme.State.Hosts.SequenceEqual(hosts))
                return;
            await CommitBundle(certificate.Bundle);
            var bundle = certificate.Bundle;
            acme.State = new CertificateAcmeState
            {
                Hosts = hosts,
                State = "valid",
                RenewAt = bundle.NotBefore + (bundle.NotAfter - bundle.NotBefore) * options.RenewAtFraction,
            };
            logger.LogInformation("Certificate {Certificate} issued over ACME for {Hosts}: {Fingerprint}, valid until {NotAfter}, renewed from {RenewAt}",
                Key, string.Join(", ", hosts), bundle.Fingerprint, bundle.NotAfter, acme.State.RenewAt);
        }
        catch (Exception ex)
        {
            var failures = state.Failures + 1;
            var wait = options.FirstRetry * Math.Pow(2, Math.Min(failures - 1, 20));
            var now = clock.GetUtcNow();
            state.State = "failed";
            state.Failures = failures;
            state.LastError = ex is AcmeException refused ? $"{refused.Type}: {refused.Detail}" : ex.Message;
            state.LastErrorAt = now;
            state.NextAttemptAt = now + (wait < options.MaxRetry ? wait : options.MaxRetry);
            logger.LogWarning("Ordering certificate {Certificate} for {Hosts} failed ({Failures} in a row): {Error}; next attempt at {Next}",
                Key, string.Join(", ", hosts), failures, state.LastError, state.NextAttemptAt);
        }
        finally
        {
            _ordering = false;
            if (challengePublished)
                await Quietly(() => commits.CommitAsync(new ConfigEntry(challengeKey, 0, null)), "removing its ACME challenges");
            if (IsAcme)
            {
                await Quietly(() => acme.WriteStateAsync(), "saving its ACME state");
                await Quietly(() => Scheduled(Due()), "scheduling its next ACME work");
            }
        }
    }

    private async Task Quietly(Func<Task> step, string what)
    {
        try
        {
            await step();
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Certificate {Certificate}: {What} failed", Key, what);
        }
    }

    private Task Scheduled(DateTimeOffset? due) =>
        GrainFactory.GetGrain<IAcmeScheduleGrain>(HostRegistry.Key).Schedule(this.GetPrimaryKeyString(), due);

    /// <summary>Stops ordering and renewing: the certificate is uploaded now, deleted, or its tenant is gone.</summary>
    private async Task StopAcme()
    {
        await acme.ClearStateAsync();
        acme.State = new CertificateAcmeState();
        await Scheduled(null);
    }

    private async Task<long> CommitBundle(CertificateBundle bundle)
    {
        if (!secrets.CanSeal)
            throw AdminException.Invalid("privateKey", "this control plane has no Secrets:Key to encrypt private keys with, and stores none in clear; an operator configures one.");
        var json = secrets.ToRow(Key, bundle);
        var revision = await this.CommitAsync(() => commits.CommitAsync(new ConfigEntry(Key, 0, json)));
        Take(ConfigJson.Read<CertificateBundle>(json), revision);
        return revision;
    }

    public async Task<long> Delete(string? ifMatch)
    {
        if (_bundle is null && !IsAcme)
            throw AdminException.NotFound(What);
        ETags.Check(ifMatch, _revision, What);
        var revision = _revision;
        if (_bundle is not null)
            revision = await this.CommitAsync(() => commits.CommitAsync(new ConfigEntry(Key, 0, null)));
        if (IsAcme)
            await StopAcme();
        (_bundle, _facts, _revision) = (null, null, 0);
        return revision;
    }

    public async Task Forget()
    {
        (_bundle, _facts, _revision) = (null, null, 0);
        if (IsAcme)
            await StopAcme();
        DeactivateOnIdle();
    }

    private void Take(CertificateBundle bundle, long revision)
    {
        var (subject, issuer) = CertificateChecks.Describe(bundle);
        _bundle = bundle;
        _facts = new CertificateFacts(bundle.Names, subject, issuer, bundle.NotBefore, bundle.NotAfter, bundle.Fingerprint);
        _revision = revision;
    }

    private CertificateView? Current() => _facts is null && !IsAcme ? null : new CertificateView(Id.Tenant, Id.Certificate, _facts,
        IsAcme ? new AcmeStatus([.. acme.State.Hosts], acme.State.State, acme.State.LastError, acme.State.LastErrorAt,
            acme.State.State == "valid" ? null : acme.State.NextAttemptAt, acme.State.RenewAt) : null,
        _revision);

}
