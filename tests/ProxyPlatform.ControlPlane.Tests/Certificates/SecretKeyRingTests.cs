using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using ProxyPlatform.Secrets;

namespace ProxyPlatform.ControlPlane.Tests.Certificates;

/// <summary>Secrets at rest: sealed with the first key, opened by any, bound to their purpose.</summary>
public sealed class SecretKeyRingTests
{
    private static SecretKeyRing Ring(params (string Id, byte[] Key)[] keys) =>
        SecretKeyRing.From(new ConfigurationBuilder().AddInMemoryCollection(keys.SelectMany((k, i) => new[]
        {
            new KeyValuePair<string, string?>($"Secrets:Keys:{i}:Id", k.Id),
            new KeyValuePair<string, string?>($"Secrets:Keys:{i}:Key", Convert.ToBase64String(k.Key)),
        })).Build());

    [Fact]
    public void A_sealed_secret_opens_for_its_purpose_only_and_shows_nothing_of_itself()
    {
        var ring = Ring(("k1", RandomNumberGenerator.GetBytes(32)));
        var sealedValue = ring.Seal("the secret", "certificate:a/b");

        Assert.DoesNotContain("the secret", sealedValue, StringComparison.Ordinal);
        Assert.StartsWith("pp-sealed:v1:k1:", sealedValue, StringComparison.Ordinal);
        Assert.True(ring.TryOpen(sealedValue, "certificate:a/b", out var clear, out _));
        Assert.Equal("the secret", clear);
        Assert.False(ring.TryOpen(sealedValue, "certificate:a/c", out _, out var problem));
        Assert.Contains("k1", problem, StringComparison.Ordinal);
        Assert.NotEqual(sealedValue, ring.Seal("the secret", "certificate:a/b"));
    }

    [Fact]
    public void Rotation_seals_with_the_new_key_and_still_opens_what_the_old_one_sealed()
    {
        var old = ("old", RandomNumberGenerator.GetBytes(32));
        var before = Ring(old).Seal("pem", "p");
        var rotated = Ring(("new", RandomNumberGenerator.GetBytes(32)), old);

        Assert.True(rotated.TryOpen(before, "p", out var clear, out _));
        Assert.Equal("pem", clear);
        Assert.StartsWith("pp-sealed:v1:new:", rotated.Seal("pem", "p"), StringComparison.Ordinal);
        Assert.False(Ring(("new", RandomNumberGenerator.GetBytes(32))).TryOpen(before, "p", out _, out var problem));
        Assert.Contains("'old'", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_keys_nothing_can_be_sealed_and_bad_keys_fail_the_start()
    {
        Assert.False(Ring().CanSeal);
        Assert.Throws<InvalidOperationException>(() => Ring(("short", RandomNumberGenerator.GetBytes(16))));
        Assert.Throws<InvalidOperationException>(() => Ring(("a", RandomNumberGenerator.GetBytes(32)), ("a", RandomNumberGenerator.GetBytes(32))));
    }

    [Fact]
    public void Secrets_Key_is_the_current_key_beside_the_older_ones_of_Secrets_Keys()
    {
        var old = RandomNumberGenerator.GetBytes(32);
        var current = RandomNumberGenerator.GetBytes(32);
        var sealedByOld = Ring(("old", old)).Seal("pem", "p");
        var ring = SecretKeyRing.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Secrets:Key"] = Convert.ToBase64String(current),
            ["Secrets:Keys:0:Id"] = "old",
            ["Secrets:Keys:0:Key"] = Convert.ToBase64String(old),
        }).Build());

        var sealedNow = ring.Seal("pem", "p");
        Assert.DoesNotContain(":old:", sealedNow, StringComparison.Ordinal);
        Assert.True(ring.TryOpen(sealedByOld, "p", out var clear, out _));
        Assert.Equal("pem", clear);
        // The current key alone opens what it sealed: its id comes from the key itself, not from configuration.
        var alone = SecretKeyRing.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Secrets:Key"] = Convert.ToBase64String(current) }).Build());
        Assert.True(alone.TryOpen(sealedNow, "p", out _, out _));
        Assert.Throws<InvalidOperationException>(() => SecretKeyRing.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Secrets:Key"] = "not base64!" }).Build()));
    }
}
