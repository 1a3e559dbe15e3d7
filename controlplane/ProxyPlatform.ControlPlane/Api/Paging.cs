using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>One page of a list, and the cursor that asks for the next one (null: this is the last).</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? Next)
{
    public Page<TOut> Select<TOut>(Func<T, TOut> map) => new([.. Items.Select(map)], Next);
}

/// <summary>
/// A list request's <c>?limit=</c> and <c>?after=</c>, checked. Every list is in keyset order (by its
/// key, e.g. tenant and ID): a page starts strictly after the key its cursor carries, so an item
/// inserted or removed while a client pages can never make another one be skipped or repeated.
/// The cursor is opaque to clients: the last key of the page, base64url-encoded.
/// </summary>
public readonly record struct PageRequest(int Limit, IReadOnlyList<string>? After)
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    public static readonly PageRequest First = new(DefaultLimit, null);

    /// <summary>Checks the query's values; <paramref name="keyParts"/> is how many parts this list's key has.</summary>
    public static PageRequest Parse(string? limit, string? after, int keyParts = 1)
    {
        var size = DefaultLimit;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size is < 1 or > MaxLimit))
            throw AdminException.Invalid("limit", $"'{limit}' is not a limit: expected a whole number from 1 to {MaxLimit}.");
        return new PageRequest(size, after is null or "" ? null : Decode(after, keyParts));
    }

    /// <summary>The key part <paramref name="index"/> of the cursor, or "" on the first page (every key sorts after "").</summary>
    public string AfterPart(int index) => After is { } parts ? parts[index] : "";

    /// <summary>
    /// The page from up to <see cref="Limit"/> + 1 items read in key order after the cursor: the extra one
    /// only says that there is a next page.
    /// </summary>
    public Page<T> Take<T>(IReadOnlyList<T> fetched, Func<T, IEnumerable<string>> key) =>
        fetched.Count > Limit
            ? new Page<T>([.. fetched.Take(Limit)], Encode(key(fetched[Limit - 1])))
            : new Page<T>(fetched, null);

    /// <summary>Whether <paramref name="key"/> comes after the cursor, in ordinal order of its parts.</summary>
    public bool IsAfter(params string[] key)
    {
        if (After is not { } after)
            return true;
        for (var i = 0; i < key.Length; i++)
        {
            var order = string.CompareOrdinal(key[i], after[i]);
            if (order != 0)
                return order > 0;
        }
        return false;
    }

    public static string Encode(IEnumerable<string> key) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Join('\n', key)));

    private static string[] Decode(string cursor, int parts)
    {
        try
        {
            var key = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor)).Split('\n');
            if (cursor.Length <= 1400 && key.Length == parts)
                return key;
        }
        catch (FormatException)
        {
        }
        throw AdminException.Invalid("after", "is not a cursor this list gave out: pass the \"next\" of the previous page as it was.");
    }
}
