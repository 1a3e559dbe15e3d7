using System.Security.Cryptography;
using ProxyPlatform.Secrets;

namespace ProxyPlatform.ControlPlane.Certificates.Acme;

/// <summary>What an ACME account grain keeps: the account key (PKCS#8 PEM) sealed, and the account's URL.</summary>
[GenerateSerializer]
public sealed class AcmeAccountState
{
    [Id(0)] public string? SealedKey { get; set; }
    [Id(1)] public string? Url { get; set; }
}

/// <summary>
/// The platform's one account at an ACME directory (key: the directory URL), created on first use: every
/// certificate is ordered with it, so a busy platform does not open an account per certificate. Its key
/// is kept sealed (<see cref="SecretKeyRing"/>) in grain storage.
/// </summary>
public sealed class AcmeAccountGrain(
    [PersistentState("acme-account")] IPersistentState<AcmeAccountState> state, SecretKeyRing keys, AcmeOptions options, AcmeHttp http)
    : Grain, IAcmeAccountGrain
{
    public async Task<AcmeAccount> Get()
    {
        if (state.State is { SealedKey: { } sealedKey, Url: { } url })
            return new AcmeAccount(sealedKey, url);
        if (!keys.CanSeal)
            throw new InvalidOperationException("No Secrets:Keys to keep an ACME account key with.");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var pem = key.ExportPkcs8PrivateKeyPem();
        using var jws = new AcmeJws(ECDsa.Create(key.ExportParameters(true)));
        var client = new AcmeClient(http.Client, new Uri(this.GetPrimaryKeyString()), jws);
        var accountUrl = await client.RegisterAsync(options.Contact, CancellationToken.None);
        state.State = new AcmeAccountState { SealedKey = keys.Seal(pem, Purpose(this.GetPrimaryKeyString())), Url = accountUrl };
        await state.WriteStateAsync();
        return new AcmeAccount(state.State.SealedKey, accountUrl);
    }

    /// <summary>What an account key is sealed for: its directory.</summary>
    public static string Purpose(string directory) => $"acme-account:{directory}";
}

/// <summary>The one HTTP client that reaches the ACME directory.</summary>
public sealed class AcmeHttp(AcmeOptions options) : IDisposable
{
    private readonly Lazy<HttpClient> _client = new(options.CreateHttpClient);

    public HttpClient Client => _client.Value;

    public void Dispose()
    {
        if (_client.IsValueCreated)
            _client.Value.Dispose();
    }
}
