using ProxyPlatform.Configuration;
using ProxyPlatform.ControlPlane.Distribution;
using ProxyPlatform.ControlPlane.Storage;
using ProxyPlatform.Resources;

namespace ProxyPlatform.ControlPlane.Certificates;

/// <summary>
/// A tenant's certificate. Like every configuration grain its state is its newest committed
/// <c>config_resources</c> row, loaded when it activates: the row's spec is the distributed
/// <see cref="CertificateBundle"/> with its private key sealed (<see cref="CertificateSecrets"/>).
/// </summary>
public sealed class CertificateGrain(ConfigStore store, ConfigCommits commits, CertificateSecrets secrets) : Grain, ICertificateGrain
{
    private CertificateBundle? _bundle;
    private CertificateFacts? _facts;
    private long _revision;

    private (string Tenant, string Certificate) Id => GrainKeys.Split(this.GetPrimaryKeyString());
    private ResourceKey Key => ResourceKey.OfCertificate(Id.Tenant, Id.Certificate);
    private string What => $"Certificate '{Id.Tenant}/{Id.Certificate}'";

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
        if (existing is not null && existing.Chain == bundle.Chain && secrets.HoldsKey(Key, existing, bundle.PrivateKey))
            return new(Current()!, _revision, false);
        if (!secrets.CanSeal)
            throw AdminException.Invalid("privateKey", "this control plane has no Secrets:Keys to encrypt private keys with, and stores none in clear; an operator configures one.");
        var json = secrets.ToRow(Key, bundle);
        var revision = await Committed(() => commits.CommitAsync(new ConfigEntry(Key, 0, json)));
        Take(ConfigJson.Read<CertificateBundle>(json), revision);
        return new(Current()!, revision, existing is null);
    }

    public async Task<long> Delete(string? ifMatch)
    {
        if (_bundle is null)
            throw AdminException.NotFound(What);
        ETags.Check(ifMatch, _revision, What);
        var revision = await Committed(() => commits.CommitAsync(new ConfigEntry(Key, 0, null)));
        (_bundle, _facts, _revision) = (null, null, 0);
        return revision;
    }

    public Task Forget()
    {
        (_bundle, _facts, _revision) = (null, null, 0);
        DeactivateOnIdle();
        return Task.CompletedTask;
    }

    private void Take(CertificateBundle bundle, long revision)
    {
        var (subject, issuer) = CertificateChecks.Describe(bundle);
        _bundle = bundle;
        _facts = new CertificateFacts(bundle.Names, subject, issuer, bundle.NotBefore, bundle.NotAfter, bundle.Fingerprint);
        _revision = revision;
    }

    private CertificateView? Current() => _facts is null ? null : new CertificateView(Id.Tenant, Id.Certificate, _facts, null, _revision);

    private async Task<long> Committed(Func<Task<long>> commit)
    {
        try
        {
            return await commit();
        }
        catch (Exception ex) when (ex is not AdminException)
        {
            // The change may have been committed even so (a lost answer): reload the row next time.
            DeactivateOnIdle();
            throw;
        }
    }
}
