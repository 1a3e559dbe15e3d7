using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace ProxyPlatform.Secrets;

/// <summary>
/// The keys that encrypt secrets at rest (certificates' private keys, ACME account keys): the control
/// plane's from <c>Secrets:Key</c>, the one current key (base64 of 32 bytes, identified by a hash of it), and
/// <c>Secrets:Keys</c>, a list of <c>{Id, Key}</c>. The current key seals (else the list's first); every one
/// opens, so a key is rotated by making a new one current and keeping the old ones in the list until
/// nothing sealed with them is left. A worker has one key, <c>DataPlane:SecretsKey</c>
/// (<see cref="Single"/>), for the private keys in its last-known-good file.
/// </summary>
/// <remarks>
/// A sealed value is <c>pp-sealed:v1:&lt;key id&gt;:&lt;base64 of nonce|ciphertext|tag&gt;</c>: AES-256-GCM with a
/// random 96-bit nonce and the value's purpose (e.g. <c>certificate:acme/www</c>) as associated data, so a
/// sealed value copied to another resource does not open there.
/// </remarks>
public sealed class SecretKeyRing
{
    private const string Prefix = "pp-sealed:v1:";
    private const int NonceSize = 12, TagSize = 16;

    private readonly IReadOnlyList<(string Id, byte[] Key)> _keys;

    public SecretKeyRing(IReadOnlyList<(string Id, byte[] Key)> keys) => _keys = keys;

    /// <summary>True when a key is configured: without one the control plane stores no secret at all.</summary>
    public bool CanSeal => _keys.Count > 0;

    public static SecretKeyRing From(IConfiguration configuration)
    {
        var keys = new List<(string, byte[])>(Single(configuration, "Secrets:Key")._keys);
        foreach (var entry in configuration.GetSection("Secrets:Keys").GetChildren())
        {
            var id = entry["Id"];
            var value = entry["Key"];
            if (string.IsNullOrWhiteSpace(id) || id.Contains(':', StringComparison.Ordinal) || string.IsNullOrWhiteSpace(value))
                throw new InvalidOperationException($"Secrets:Keys:{entry.Key} needs an Id (without ':') and a Key (base64 of 32 bytes).");
            var key = ParseKey($"Secrets:Keys:{entry.Key}:Key", value);
            if (keys.Any(k => k.Item1 == id))
                throw new InvalidOperationException($"Secrets:Keys: the id '{id}' is given twice (or is Secrets:Key's).");
            keys.Add((id, key));
        }
        return new SecretKeyRing(keys);
    }

    /// <summary>
    /// A ring of the one key under <paramref name="name"/> in <paramref name="configuration"/> (base64 of
    /// 32 bytes), identified by a hash of it, so a value sealed under another key says so when it does not
    /// open; an empty ring when the setting is absent.
    /// </summary>
    public static SecretKeyRing Single(IConfiguration configuration, string name)
    {
        var value = configuration[name];
        if (string.IsNullOrWhiteSpace(value))
            return new SecretKeyRing([]);
        var key = ParseKey(name, value.Trim());
        return new SecretKeyRing([(Convert.ToHexStringLower(SHA256.HashData(key))[..8], key)]);
    }

    private static byte[] ParseKey(string name, string value)
    {
        byte[] key;
        try
        {
            key = Convert.FromBase64String(value);
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"{name} is not base64.");
        }
        return key.Length == 32 ? key : throw new InvalidOperationException($"{name} is {key.Length} bytes; AES-256 needs 32.");
    }

    /// <summary>Seals <paramref name="plaintext"/> for <paramref name="purpose"/> with the first key.</summary>
    public string Seal(string plaintext, string purpose)
    {
        if (!CanSeal)
            throw new InvalidOperationException("No Secrets:Key (or Secrets:Keys) configured.");
        var (id, key) = _keys[0];
        var clear = Encoding.UTF8.GetBytes(plaintext);
        var sealedBytes = new byte[NonceSize + clear.Length + TagSize];
        var nonce = sealedBytes.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using (var aes = new AesGcm(key, TagSize))
            aes.Encrypt(nonce, clear, sealedBytes.AsSpan(NonceSize, clear.Length), sealedBytes.AsSpan(NonceSize + clear.Length), Encoding.UTF8.GetBytes(purpose));
        CryptographicOperations.ZeroMemory(clear);
        return $"{Prefix}{id}:{Convert.ToBase64String(sealedBytes)}";
    }

    /// <summary>Opens a value <see cref="Seal"/> made for the same <paramref name="purpose"/>; false (and no detail of the value) when no configured key opens it.</summary>
    public bool TryOpen(string sealedValue, string purpose, out string plaintext, out string? problem)
    {
        plaintext = "";
        if (!sealedValue.StartsWith(Prefix, StringComparison.Ordinal) || sealedValue.IndexOf(':', Prefix.Length) is var colon && colon < 0)
        {
            problem = "not a sealed value";
            return false;
        }
        var id = sealedValue[Prefix.Length..colon];
        var key = _keys.FirstOrDefault(k => k.Id == id).Key;
        if (key is null)
        {
            problem = $"sealed with key '{id}', which Secrets:Keys does not hold";
            return false;
        }
        try
        {
            var sealedBytes = Convert.FromBase64String(sealedValue[(colon + 1)..]);
            if (sealedBytes.Length < NonceSize + TagSize)
                throw new FormatException();
            var length = sealedBytes.Length - NonceSize - TagSize;
            var clear = new byte[length];
            using (var aes = new AesGcm(key, TagSize))
                aes.Decrypt(sealedBytes.AsSpan(0, NonceSize), sealedBytes.AsSpan(NonceSize, length), sealedBytes.AsSpan(NonceSize + length), clear, Encoding.UTF8.GetBytes(purpose));
            plaintext = Encoding.UTF8.GetString(clear);
            CryptographicOperations.ZeroMemory(clear);
            problem = null;
            return true;
        }
        catch (Exception ex) when (ex is FormatException or CryptographicException)
        {
            problem = $"does not open with key '{id}' (damaged, or sealed for another resource)";
            return false;
        }
    }
}
