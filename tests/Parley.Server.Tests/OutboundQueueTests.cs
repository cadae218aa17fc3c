using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Parley.Server.Connections;
using Parley.Testing;

namespace Parley.Server.Tests;

public class OutboundQueueTests
{
    [Fact]
    public async Task FourBroadcastersAtOnceReachTheWriterInOrderPerSenderAndNothingIsLost()
    {
        const int PerSender = 20_000;
        var queue = new OutboundQueue(long.MaxValue);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var writing = queue.DrainAsync(pipe.Writer);
        var reading = Task.Run(async () =>
        {
            var text = new StringBuilder();
            while (true)
            {
                var result = await pipe.Reader.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    text.Append(Encoding.ASCII.GetString(segment.Span));
                }

                pipe.Reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return text.ToString();
                }
            }
        });

        await Task.WhenAll(Enumerable.Range(0, 4).Select(sender => Task.Run(() =>
        {
            for (int i = 0; i < PerSender; i++)
            {
                Assert.True(queue.TryEnqueue(Encoding.ASCII.GetBytes($"{sender} {i}\n")));
            }
        }))).DefaultTimeout();
        queue.Complete();
        await writing.DefaultTimeout();
        await pipe.Writer.CompleteAsync();

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
        var writing = queue.DrainAsync(pipe.Writer);
        Assert.False(writing.IsCompleted);

        Assert.True(queue.TryEnqueue("0123456789\n"u8.ToArray()));
        Assert.False(queue.TryEnqueue("a line longer than the whole limit\n"u8.ToArray()));
        Assert.True(queue.TryEnqueue("dropped quietly\n"u8.ToArray()));
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
            Assert.True(queue.TryEnqueue(line));
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
}
