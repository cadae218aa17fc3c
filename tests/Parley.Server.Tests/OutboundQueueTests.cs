using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Parley.Server.Connections;
using Parley.Testing;

namespace Parley.Server.Tests;

public class OutboundQueueTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FourBroadcastersAtOnceReachTheWriterInOrderPerSenderAndNothingIsLost(bool toSocket)
    {
        const int PerSender = 20_000;
        var queue = new OutboundQueue(long.MaxValue);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var (near, far) = await Loopback.ConnectedPairAsync();
        using var nearSocket = near;
        using var farSocket = far;
        var writing = toSocket ? OutputWriter.DrainAsync(queue, near) : OutputWriter.DrainAsync(queue, pipe.Writer);
        var reading = toSocket ? ReadToEndAsync(far) : ReadToEndAsync(pipe.Reader);

        await Task.WhenAll(Enumerable.Range(0, 4).Select(sender => Task.Run(() =>
        {
            for (int i = 0; i < PerSender; i++)
            {
                Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(Encoding.ASCII.GetBytes($"{sender} {i}\n")));
            }
        }))).DefaultTimeout();
        queue.Complete();
        await writing.DefaultTimeout();
        await pipe.Writer.CompleteAsync();
        near.Shutdown(SocketShutdown.Send);

        var next = new int[4];
        foreach (string line in (await reading.DefaultTimeout()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int sender = line[0] - '0';
            Assert.Equal($"{sender} {next[sender]}", line);
            next[sender]++;
        }

        Assert.All(next, count => Assert.Equal(PerSender, count));
        Assert.Equal(0, queue.PendingBytes);
    }

    [Fact]
    public async Task AWaitingWriterEndsOnCompleteAfterTheLastWord()
    {
        var queue = new OutboundQueue(16);
        var pipe = new Pipe();
        var writing = OutputWriter.DrainAsync(queue, pipe.Writer);
        Assert.False(writing.IsCompleted);

        Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue("0123456789\n"u8.ToArray()));
        Assert.Equal(EnqueueResult.Overflowed, queue.TryEnqueue("a line longer than the whole limit\n"u8.ToArray()));
        Assert.Equal(EnqueueResult.Dropped, queue.TryEnqueue("dropped quietly\n"u8.ToArray()));
        Assert.True(queue.HasOverflowed);
        queue.EnqueueFinal("! too slow\n"u8.ToArray());
        queue.Complete();
        await writing.DefaultTimeout();
        queue.EnqueueFinal("after the end\n"u8.ToArray());

        await pipe.Writer.CompleteAsync();
        var result = await pipe.Reader.ReadAsync().AsTask().DefaultTimeout();
        Assert.Equal("0123456789\n! too slow\n", Encoding.ASCII.GetString(result.Buffer.ToArray()));
        Assert.Equal(0, queue.PendingBytes);
    }

    [Fact]
    public async Task QueuedLinesCrossingTheWritersBufferBoundariesArriveWholeAndInOrder()
    {
        // Lines of every length from 1 byte to past a pipe segment (4 KiB), so copies split at every boundary.
        var lines = Enumerable.Range(1, 300).Select(i => Encoding.ASCII.GetBytes(new string((char)('a' + i % 26), i * 37 % 9000) + "\n")).ToArray();
        var queue = new OutboundQueue(long.MaxValue);
        foreach (byte[] line in lines)
        {
            Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(line));
        }

        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        long written = queue.WriteQueuedTo(pipe.Writer);

        byte[] expected = lines.SelectMany(line => line).ToArray();
        Assert.Equal(expected.Length, written);
        Assert.Equal(0, queue.PendingBytes);
        await pipe.Writer.CompleteAsync();
        var result = await pipe.Reader.ReadAsync().AsTask().DefaultTimeout();
        Assert.Equal(expected, result.Buffer.ToArray());
    }

    [Fact]
    public async Task TheSocketWriterSendsMoreLinesThanOneSendmsgTakesWholeAndInOrder()
    {
        // More lines than the kernel takes pieces in one sendmsg (1024), of every length up to past a socket buffer.
        var lines = Enumerable.Range(1, 3000).Select(i => Encoding.ASCII.GetBytes($"{i} " + new string((char)('a' + i % 26), i * 37 % 9000) + "\n")).ToArray();
        var queue = new OutboundQueue(long.MaxValue);
        foreach (byte[] line in lines)
        {
            Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(line));
        }

        var (near, far) = await Loopback.ConnectedPairAsync();
        using var nearSocket = near;
        using var farSocket = far;
        var reading = ReadToEndAsync(far);
        var writing = OutputWriter.DrainAsync(queue, near);
        queue.Complete();
        await writing.DefaultTimeout();
        near.Shutdown(SocketShutdown.Send);

        Assert.Equal(Encoding.ASCII.GetString(lines.SelectMany(line => line).ToArray()), await reading.DefaultTimeout());
        Assert.Equal(0, queue.PendingBytes);
    }

    [Fact]
    public async Task TheSocketWriterEndsQuietlyWhenThePeerResetsMidSend()
    {
        var (near, far) = await Loopback.ConnectedPairAsync();
        using var nearSocket = near;
        var queue = new OutboundQueue(long.MaxValue);
        var writing = OutputWriter.DrainAsync(queue, near);
        // Far more than the kernel buffers, so the writer is inside a send when the reset comes.
        byte[] line = Encoding.ASCII.GetBytes(new string('x', 64 * 1024) + "\n");
        for (int i = 0; i < 200; i++)
        {
            queue.TryEnqueue(line);
        }

        far.LingerState = new LingerOption(true, 0);
        far.Dispose();
        await writing.DefaultTimeout();
    }

    private static async Task<string> ReadToEndAsync(Socket socket)
    {
        using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return await reader.ReadToEndAsync();
    }

    private static async Task<string> ReadToEndAsync(PipeReader pipe)
    {
        var text = new StringBuilder();
        while (true)
        {
            var result = await pipe.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                text.Append(Encoding.ASCII.GetString(segment.Span));
            }

            pipe.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return text.ToString();
            }
        }
    }
}
