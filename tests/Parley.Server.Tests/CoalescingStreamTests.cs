using System.Net.WebSockets;
using Parley.Server.Connections;

namespace Parley.Server.Tests;

public class CoalescingStreamTests
{
    [Fact]
    public async Task FramesSentInABatchReachTheConnectionAsOneWrite()
    {
        var connection = new WriteCountingStream();
        await using var batching = new CoalescingStream(connection);
        using var socket = WebSocket.CreateFromStream(batching, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = Timeout.InfiniteTimeSpan });

        await batching.BeginBatchAsync(CancellationToken.None);
        for (int i = 0; i < 50; i++)
        {
            await socket.SendAsync("{\"type\":\"message\"}"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }

        Assert.Equal(0, connection.Writes);
        await batching.EndBatchAsync(CancellationToken.None);
        Assert.Equal(1, connection.Writes);
        Assert.Equal(1, connection.Flushes);
        // 50 frames of a 2-byte header and 18 bytes of text, in the order sent.
        Assert.Equal(50 * 20, connection.Written.Length);
        Assert.Equal((byte)0x81, connection.Written[20 * 49]);

        // Outside a batch (a pong, the close) a frame goes straight through.
        await socket.SendAsync("{}"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        Assert.Equal(2, connection.Writes);
    }

    private sealed class WriteCountingStream : MemoryStream
    {
        public int Writes { get; private set; }

        public int Flushes { get; private set; }

        public byte[] Written => ToArray();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes++;
            return base.WriteAsync(buffer, cancellationToken);
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flushes++;
            return Task.CompletedTask;
        }
    }
}
