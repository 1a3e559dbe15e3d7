using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace ProxyPlatform.DataPlane.WebSockets;

/// <summary>
/// Follows one direction of a WebSocket connection frame by frame (RFC 6455 §5.2) without copying or
/// unmasking anything: it only knows where a frame ends, so that a Close frame can be put between two
/// frames and never inside one.
/// </summary>
public sealed class WebSocketFrames
{
    private int _headerSeen;
    private int _headerLength = 2;
    private int _lengthEnd = 2;
    private int _opcode;
    private long _payloadLength;
    private long _payloadLeft;

    /// <summary>No frame is half-way through: the next byte starts a new frame.</summary>
    public bool AtBoundary => _headerSeen == 0 && _payloadLeft == 0;

    /// <summary>A complete Close frame has passed.</summary>
    public bool SawClose { get; private set; }

    /// <summary>
    /// Takes <paramref name="data"/> as the next bytes of the direction and answers how many were taken:
    /// all of them, or with <paramref name="stopAtBoundary"/> only up to the end of the frame under way.
    /// </summary>
    public int Advance(ReadOnlySpan<byte> data, bool stopAtBoundary = false)
    {
        var taken = 0;
        while (taken < data.Length)
        {
            if (stopAtBoundary && AtBoundary && taken > 0)
                return taken;
            if (_payloadLeft > 0)
            {
                var n = (int)Math.Min(_payloadLeft, data.Length - taken);
                _payloadLeft -= n;
                taken += n;
                if (_payloadLeft == 0)
                    FrameEnded();
                continue;
            }
            var b = data[taken++];
            switch (_headerSeen)
            {
                case 0:
                    _opcode = b & 0x0F;
                    break;
                case 1:
                    var length7 = b & 0x7F;
                    _lengthEnd = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0);
                    _headerLength = _lengthEnd + ((b & 0x80) != 0 ? 4 : 0);
                    _payloadLength = length7 < 126 ? length7 : 0;
                    break;
                default:
                    if (_headerSeen < _lengthEnd)
                        _payloadLength = (_payloadLength << 8) | b;
                    break;
            }
            _headerSeen++;
            if (_headerSeen >= 2 && _headerSeen == _headerLength)
            {
                _payloadLeft = _payloadLength < 0 ? long.MaxValue : _payloadLength;
                _headerSeen = 0;
                _headerLength = 2;
                if (_payloadLeft == 0)
                    FrameEnded();
            }
        }
        return taken;
    }

    private void FrameEnded()
    {
        if (_opcode == 0x8)
            SawClose = true;
    }

    /// <summary>Status 1001 "going away" (RFC 6455 §7.4.1), what a worker that leaves sends both ways.</summary>
    public const ushort GoingAway = 1001;

    private static readonly byte[] Reason = Encoding.UTF8.GetBytes("worker draining");

    /// <summary>A Close frame with status 1001 as a server sends it (unmasked).</summary>
    public static byte[] ServerClose()
    {
        var frame = new byte[2 + 2 + Reason.Length];
        frame[0] = 0x88;
        frame[1] = (byte)(2 + Reason.Length);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), GoingAway);
        Reason.CopyTo(frame, 4);
        return frame;
    }

    /// <summary>A Close frame with status 1001 as a client sends it (masked with a fresh key, §5.3).</summary>
    public static byte[] ClientClose()
    {
        var frame = new byte[2 + 4 + 2 + Reason.Length];
        frame[0] = 0x88;
        frame[1] = (byte)(0x80 | (2 + Reason.Length));
        var mask = frame.AsSpan(2, 4);
        RandomNumberGenerator.Fill(mask);
        var payload = frame.AsSpan(6);
        BinaryPrimitives.WriteUInt16BigEndian(payload, GoingAway);
        Reason.CopyTo(payload[2..]);
        for (var i = 0; i < payload.Length; i++)
            payload[i] ^= mask[i % 4];
        return frame;
    }
}
