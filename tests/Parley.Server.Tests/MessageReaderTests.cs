using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public class MessageReaderTests
{
    // Small segments, so one read's buffer is many segments and lines cross their boundaries everywhere.
    private static readonly PipeOptions SmallSegments = new(minimumSegmentSize: 64, pauseWriterThreshold: 0, useSynchronizationContext: false);

    [Fact]
    public async Task RunsOfWholeLinesInEachSegmentAreOfferedTogetherAndEveryLineArrivesOnceInOrder()
    {
        string[] lines = Enumerable.Range(0, 500).Select(i => $"line {i} " + new string('z', i % 50)).ToArray();
        var sink = new RecordingSink(takeRuns: true);

        await ReadAllAsync(lines, sink);

        Assert.Equal(lines, sink.Lines);
        Assert.True(sink.RunsTaken > 0, "no run of lines was offered whole");
        Assert.True(sink.SingleLines > 0, "no line crossed a segment boundary, so the test split nothing");
    }

    [Fact]
    public async Task ADeclinedRunGoesLineByLineAndIsNotOfferedAgainForEachOfItsLines()
    {
        string[] lines = Enumerable.Range(0, 2000).Select(i => $"{i}").ToArray();
        var sink = new RecordingSink(takeRuns: false);

        await ReadAllAsync(lines, sink);

        Assert.Equal(lines, sink.Lines);
        Assert.Equal(lines.Length, sink.SingleLines);
        // About one offer per 64-byte segment, not one per line (each offer scans the rest of its segment).
        long segments = lines.Sum(line => line.Length + 1) / 64 + 1;
        Assert.InRange(sink.Offers, 1, 2 * segments);
    }

    [Fact]
    public async Task WithOnlyALineTimeoutAReaderIsWatchedOnlyWhileHalfALineWaits()
    {
        using var deadlines = new ReadDeadlines(TimeProvider.System);
        var pipe = new Pipe(SmallSegments);
        var sink = new RecordingSink(takeRuns: false);
        var reading = MessageReader.RunAsync(pipe.Reader, Framing.Line, maxLineBytes: 1024, sink, CancellationToken.None, lineTimeout: TimeSpan.FromSeconds(1), deadlines: deadlines);

        // Whole lines only: nothing is ever half read, so no deadline is needed and none is watched.
        await pipe.Writer.WriteAsync("one\ntwo\n"u8.ToArray());
        for (int waited = 0; sink.Lines.Count < 2; waited++)
        {
            Assert.True(waited < 500, "the two lines were not read within 5 s");
            Assert.False(reading.IsCompleted);
            await Task.Delay(10);
        }

        Assert.Equal(0, deadlines.Watched);

        // Half a line: its clock runs, and the line timeout still ends the reader.
        await pipe.Writer.WriteAsync("thr"u8.ToArray());
        await Assert.ThrowsAsync<LineTimeoutException>(() => reading.DefaultTimeout());
        Assert.Equal(["one", "two"], sink.Lines);
        Assert.Equal(0, deadlines.Watched);
    }

    private static async Task ReadAllAsync(string[] lines, RecordingSink sink)
    {
        var pipe = new Pipe(SmallSegments);
        byte[] all = Encoding.ASCII.GetBytes(string.Concat(lines.Select(line => line + "\n")));
        // Written in uneven pieces and only then read, so the reader sees one buffer of many segments.
        for (int at = 0; at < all.Length; at += 37)
        {
            pipe.Writer.Write(all.AsSpan(at, Math.Min(37, all.Length - at)));
        }

        await pipe.Writer.FlushAsync();
        await pipe.Writer.CompleteAsync();
        await MessageReader.RunAsync(pipe.Reader, Framing.Line, maxLineBytes: 1024, sink, CancellationToken.None).DefaultTimeout();
    }

    private sealed class RecordingSink(bool takeRuns) : IMessageSink
    {
        public List<string> Lines { get; } = [];

        public int RunsTaken { get; private set; }

        public int SingleLines { get; private set; }

        public int Offers { get; private set; }

        public bool TryTakeLines(ReadOnlySpan<byte> run)
        {
            Offers++;
            if (!takeRuns)
            {
                return false;
            }

            Assert.Equal((byte)'\n', run[^1]);
            Lines.AddRange(Encoding.ASCII.GetString(run[..^1]).Split('\n'));
            RunsTaken++;
            return true;
        }

        public ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message)
        {
            Lines.Add(Encoding.ASCII.GetString(message.ToArray()));
            SingleLines++;
            return ValueTask.FromResult(true);
        }

        public ValueTask<bool> OnLineTooLongAsync() => throw new InvalidOperationException("no line here is too long");

        public ValueTask OnBatchEndAsync() => ValueTask.CompletedTask;
    }
}
