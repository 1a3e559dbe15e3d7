using ProxyPlatform.DataPlane.WebSockets;

namespace ProxyPlatform.DataPlane.Tests.WebSockets;

public sealed class WebSocketFramesTests
{
    private static byte[] Frame(int opcode, int payload, bool masked)
    {
        var header = new List<byte> { (byte)(0x80 | opcode) };
        var mask = masked ? 0x80 : 0;
        if (payload < 126)
            header.Add((byte)(mask | payload));
        else if (payload <= ushort.MaxValue)
            header.AddRange([(byte)(mask | 126), (byte)(payload >> 8), (byte)payload]);
        else
            header.AddRange([(byte)(mask | 127), 0, 0, 0, 0, (byte)(payload >> 24), (byte)(payload >> 16), (byte)(payload >> 8), (byte)payload]);
        if (masked)
            header.AddRange([1, 2, 3, 4]);
        return [.. header, .. new byte[payload]];
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(5, true)]
    [InlineData(300, false)]
    [InlineData(70_000, true)]
    public void Frames_fed_in_any_split_end_exactly_where_they_end(int payload, bool masked)
    {
        var stream = Frame(1, payload, masked).Concat(Frame(2, 7, masked)).ToArray();
        var firstEnd = stream.Length - Frame(2, 7, masked).Length;
        foreach (var chunk in new[] { 1, 3, 1000, stream.Length })
        {
            var frames = new WebSocketFrames();
            var boundaries = new List<int>();
            var position = 0;
            while (position < stream.Length)
            {
                var end = Math.Min(position + chunk, stream.Length);
                position += frames.Advance(stream.AsSpan(position, end - position), stopAtBoundary: true);
                if (frames.AtBoundary)
                    boundaries.Add(position);
            }
            Assert.Equal([firstEnd, stream.Length], boundaries.Distinct());
        }
    }

    [Fact]
    public void A_close_frame_is_noticed_once_complete_and_the_ones_the_worker_sends_parse_as_close_frames()
    {
        var frames = new WebSocketFrames();
        var close = WebSocketFrames.ServerClose();
        frames.Advance(close.AsSpan(0, 3));
        Assert.False(frames.SawClose);
        frames.Advance(close.AsSpan(3));
        Assert.True(frames.SawClose);
        Assert.True(frames.AtBoundary);

        var masked = new WebSocketFrames();
        var clientClose = WebSocketFrames.ClientClose();
        Assert.Equal(clientClose.Length, masked.Advance(clientClose));
        Assert.True(masked.SawClose && masked.AtBoundary);
        // The masked status unmasks to 1001.
        var status = ((clientClose[6] ^ clientClose[2]) << 8) | (clientClose[7] ^ clientClose[3]);
        Assert.Equal(1001, status);
    }
}
