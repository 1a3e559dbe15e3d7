using System.Buffers.Binary;
using System.IO.Hashing;
using Google.Protobuf;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>What a journal holds up to its first bad record, and why reading stopped there (null when it did not).</summary>
public sealed record ConfigJournalRead(IReadOnlyList<ConfigUpdate> Records, long ValidBytes, string? Problem);

/// <summary>
/// The format of the last-known-good file: an 8-byte header, then <see cref="ConfigUpdate"/>s as the
/// stream sends them, a full snapshot first and then deltas, each chained on the revision before it.
/// A record is framed as <c>[CRC-32 of the rest: 4][length: 4][protobuf: length]</c> (little-endian),
/// so a record cut short by a crash or changed on disk is found, and what precedes it is still read.
/// </summary>
public static class ConfigJournal
{
    private static ReadOnlySpan<byte> Header => "PPLKG1\r\n"u8;
    private const int FrameBytes = 8;

    public static int HeaderLength => Header.Length;

    public static void WriteHeader(Stream stream) => stream.Write(Header);

    /// <summary>One framed record of <paramref name="update"/>.</summary>
    public static byte[] Encode(ConfigUpdate update)
    {
        var length = update.CalculateSize();
        var record = new byte[FrameBytes + length];
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(4), length);
        update.WriteTo(record.AsSpan(FrameBytes));
        BinaryPrimitives.WriteUInt32LittleEndian(record, Crc32.HashToUInt32(record.AsSpan(4)));
        return record;
    }

    /// <summary>
    /// The records of a journal up to the first one that is torn (cut short), corrupt (a length that
    /// does not fit, a checksum that does not match, a payload that does not parse) or out of place (a
    /// first record that is not a snapshot, a delta not from the revision before it).
    /// </summary>
    public static ConfigJournalRead Read(byte[] bytes)
    {
        var records = new List<ConfigUpdate>();
        if (bytes.Length < Header.Length || !bytes.AsSpan(0, Header.Length).SequenceEqual(Header))
            return new(records, 0, bytes.Length == 0 ? "the file is empty" : "the file does not start with the last-known-good header");

        long offset = Header.Length;
        while (offset < bytes.Length)
        {
            var problem = ReadRecord(bytes, (int)offset, records.Count == 0 ? null : records[^1], out var update, out var size);
            if (problem is not null)
                return new(records, offset, $"the record at byte {offset} {problem}");
            records.Add(update!);
            offset += size;
        }
        return new(records, offset, null);
    }

    private static string? ReadRecord(byte[] bytes, int offset, ConfigUpdate? previous, out ConfigUpdate? update, out int size)
    {
        update = null;
        size = 0;
        var remaining = bytes.Length - offset;
        if (remaining < FrameBytes)
            return $"is cut short ({remaining} bytes)";
        var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset + 4));
        if (length < 0 || length > remaining - FrameBytes)
            return $"claims {length} bytes where {remaining - FrameBytes} remain";
        size = FrameBytes + length;
        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset)) != Crc32.HashToUInt32(bytes.AsSpan(offset + 4, 4 + length)))
            return "does not match its checksum";
        try
        {
            update = ConfigUpdate.Parser.ParseFrom(bytes, offset + FrameBytes, length);
        }
        catch (InvalidProtocolBufferException ex)
        {
            return $"is not a configuration update ({ex.Message})";
        }
        if (previous is null && update.BaseRevision != 0)
            return $"is a delta from revision {update.BaseRevision}, not the snapshot a file starts with";
        if (previous is not null && update.BaseRevision != previous.Revision)
            return $"is revision {update.Revision} from {update.BaseRevision}, not a delta from {previous.Revision}";
        return null;
    }
}
