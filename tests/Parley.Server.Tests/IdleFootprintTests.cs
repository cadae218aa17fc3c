using System.Buffers;
using System.IO.Pipelines;
using Parley.Protocol.Chat;
using Parley.Server.Chat;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>What was made lazy or registration-free to shrink an idle connection still behaves as before.</summary>
public class IdleFootprintTests
{
    [Fact]
    public void ARoomsRecentLinesStayNewestAndInOrderAsTheyGrowPastTheirFirstSlotsAndWrap()
    {
        var room = new ChatRoom("dev", "dev", recentCapacity: 64);
        Assert.Empty(room.Recent(20));

        for (long id = 1; id <= 3; id++)
        {
            room.Remember([Line(id)]);
        }

        Assert.Equal([1L, 2, 3], room.Recent(20).Select(line => line.Id!.Value));

        // Through every growth (4, 8, 16, 32, 64 slots) and then round the ring twice, in batches of uneven sizes.
        long next = 4;
        foreach (int batch in new[] { 1, 2, 5, 7, 13, 29, 40, 50 })
        {
            room.Remember([.. Enumerable.Range(0, batch).Select(_ => Line(next++))]);
            long newest = next - 1;
            int kept = (int)Math.Min(newest, 64);
            Assert.Equal(kept, room.RecentCount);
            Assert.Equal(LongRange(newest - kept + 1, kept), room.Recent(64).Select(line => line.Id!.Value));
            int asked = (int)Math.Min(newest, 20);
            Assert.Equal(LongRange(newest - asked + 1, asked), room.Recent(20).Select(line => line.Id!.Value));
        }
    }

    [Fact]
    public async Task AReaderWaitingWithoutARegistrationEndsWhenTheTokenIsCancelledAndItsReadIsWoken()
    {
        var pipe = new Pipe();
        using var cutOff = new CancellationTokenSource();
        var sink = new CountingSink();
        var reading = MessageReader.RunAsync(pipe.Reader, Framing.Line, maxLineBytes: 1024, sink, cutOff.Token, cancelledThroughInput: true);

        await pipe.Writer.WriteAsync("hello\n"u8.ToArray());
        await WaitUntilAsync(() => sink.Messages == 1);

        // A woken read with the token still standing is not a cut-off (a deadline sweep that lost a race): read on.
        pipe.Reader.CancelPendingRead();
        await pipe.Writer.WriteAsync("still here\n"u8.ToArray());
        await WaitUntilAsync(() => sink.Messages == 2);
        Assert.False(reading.IsCompleted);

        await cutOff.CancelAsync();
        Assert.False(reading.IsCompleted, "the reader registered on the token after all");
        pipe.Reader.CancelPendingRead();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading.DefaultTimeout());
    }

    private static ChatEvent Line(long id) => new(ChatEventType.Message, DateTimeOffset.UnixEpoch) { Room = "dev", Text = $"line {id}", Id = id };

    private static IEnumerable<long> LongRange(long start, int count) => Enumerable.Range(0, count).Select(i => start + i);

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the reader");
            await Task.Delay(10);
        }
    }

    private sealed class CountingSink : IMessageSink
    {
        private int _messages;

        public int Messages => Volatile.Read(ref _messages);

        public ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message)
        {
            Interlocked.Increment(ref _messages);
            return ValueTask.FromResult(true);
        }

        public ValueTask<bool> OnLineTooLongAsync() => ValueTask.FromResult(true);

        public ValueTask OnBatchEndAsync() => ValueTask.CompletedTask;
    }
}
