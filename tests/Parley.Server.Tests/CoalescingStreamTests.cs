using System.Net.WebSockets;
using System.Text;
using Parley.Server.Connections;
using Parley.Server.Web;

namespace Parley.Server.Tests;

public class CoalescingStreamTests
{
    [Fact]
    public async Task QueuedFramesReachTheConnectionInOneWriteAndOneFlushAndReadBackAsTheirEvents()
    {
        var connection = new WriteCountingStream();
        await using var coalescing = new CoalescingStream(connection);
        var queue = new OutboundQueue(long.MaxValue);
        // A short frame, one with a 16-bit length and one with a 64-bit length: the three header sizes.
        string[] events = [.. Enumerable.Range(0, 50).Select(i => $"{{\"type\":\"message\",\"text\":\"{i}\"}}"), $"{{\"text\":\"{new string('a', 300)}\"}}", $"{{\"text\":\"{new string('b', 70_000)}\"}}"];
        foreach (string text in events)
        {
            Assert.NotEqual(EnqueueResult.Overflowed, queue.TryEnqueue(WebSocketFrameFormatter.Frame(Encoding.UTF8.GetBytes(text))));
        }

        await coalescing.WriteQueuedAsync(queue, CancellationToken.None);

        Assert.Equal(1, connection.Flushes);
        Assert.Equal(0, queue.PendingBytes);
        Assert.InRange(connection.Writes, 1, 1 + (70_000 / (16 * 1024)));

        // Outside the writer (a pong, the close) a frame goes straight through, after the ones before it.
        using var server = WebSocket.CreateFromStream(coalescing, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = Timeout.InfiniteTimeSpan });
        await server.SendAsync("{}"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        Assert.Equal(2, connection.Flushes);

        // A client reads back every event, whole and in order.
        using var client = WebSocket.CreateFromStream(new MemoryStream(connection.Written), new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = Timeout.InfiniteTimeSpan });
        foreach (string expected in events.Append("{}"))
        {
            Assert.Equal(expected, await ReceiveTextAsync(client));
        }
    }

    private static async Task<string> ReceiveTextAsync(WebSocket socket)
    {
        var buffer = new byte[128 * 1024];
        int filled = 0;
        ValueWebSocketReceiveResult received;
        do
        {
            received = await socket.ReceiveAsync(buffer.AsMemory(filled), CancellationToken.None);
            Assert.Equal(WebSocketMessageType.Text, received.MessageType);
            filled += received.Count;
        }
        while (!received.EndOfMessage);

        return Encoding.UTF8.GetString(buffer, 0, filled);
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

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flushes++;
            return Task.CompletedTask;
        }
    }
}
