using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using Parley.Protocol.Framing;
using Parley.Server.Hosting;

namespace Parley.Server.Connections;

/// <summary>The peer was too slow for one of the reader's time limits; the message says which, in the user's words.</summary>
internal abstract class PeerTimeoutException(string message, string reason) : Exception(message)
{
    /// <summary>The reason a chat room is given when the member leaves.</summary>
    public string Reason { get; } = reason;
}

/// <summary>The peer sent nothing for longer than the idle timeout.</summary>
internal sealed class IdleTimeoutException(TimeSpan timeout) : PeerTimeoutException($"idle for {timeout.TotalSeconds:0} seconds", "idle timeout");

/// <summary>The peer took longer than the line timeout to finish a line.</summary>
internal sealed class LineTimeoutException(TimeSpan timeout) : PeerTimeoutException($"line not finished within {timeout.TotalSeconds:0} seconds", "line timeout");

/// <summary>What a service's reader does with each message; returning false ends the connection.</summary>
internal interface IMessageSink
{
    ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message);

    ValueTask<bool> OnLineTooLongAsync();

    /// <summary>
    /// Offered a run of complete lines, LFs included (the whole lines within one buffer segment), before they are
    /// handed over one by one: a sink that can act on the whole run (the echo, which sends plain lines back as they
    /// came) returns true and saves a call per line. Returning false changes nothing.
    /// </summary>
    bool TryTakeLines(ReadOnlySpan<byte> lines) => false;

    /// <summary>Called once per batch of messages that one read returned, so replies can be flushed together.</summary>
    ValueTask OnBatchEndAsync();
}

/// <summary>
/// The one reader loop per connection: await input, cut it into messages by the service's framing, hand each to
/// the sink, then advance past what was consumed. It never writes to the socket and never waits on another client.
/// </summary>
internal static class MessageReader
{
    /// <summary>
    /// Reads until the peer closes, the sink says stop, or <paramref name="cancellation"/> fires. With an idle
    /// timeout, a peer that sends nothing for that long ends the loop with <see cref="IdleTimeoutException"/>.
    /// </summary>
    public static async Task RunAsync(PipeReader input, Framing framing, int maxLineBytes, IMessageSink sink, CancellationToken cancellation, TimeSpan idleTimeout = default, RateLimit rateLimit = default, TimeSpan lineTimeout = default, ReadDeadlines? deadlines = null)
    {
        // Made with the first message: a connection that never sends (an idle member in the lobby) holds none.
        TokenBucket? rate = null;
        var lines = new LineReader(maxLineBytes);
        bool timed = idleTimeout > TimeSpan.Zero || (lineTimeout > TimeSpan.Zero && framing == Framing.Line);
        if (timed && deadlines is null)
        {
            throw new ArgumentNullException(nameof(deadlines), "a timeout needs the server's ReadDeadlines");
        }

        // Watched from the first read that needs a deadline: with only a line timeout, a connection that never
        // leaves half a line (an idle member in the lobby) never costs the watch list an entry.
        ReadDeadline? deadline = null;
        try
        {
            long partialLineSince = 0;
            while (true)
            {
                bool waitingOnLine = false;
                var lineLeft = partialLineSince == 0 || lineTimeout <= TimeSpan.Zero ? TimeSpan.MaxValue : lineTimeout - Stopwatch.GetElapsedTime(partialLineSince);
                // One deadline per read bounds both an idle peer and one that dribbles a line a byte at a time
                // (slowloris): whichever comes first.
                if (timed)
                {
                    waitingOnLine = !(idleTimeout > TimeSpan.Zero && idleTimeout < lineLeft);
                    var wait = waitingOnLine ? lineLeft : idleTimeout;
                    if (wait <= TimeSpan.Zero)
                    {
                        throw new LineTimeoutException(lineTimeout);
                    }

                    if (wait == TimeSpan.MaxValue)
                    {
                        deadline?.Disarm();
                    }
                    else
                    {
                        (deadline ??= deadlines!.Watch(input)).Arm(wait);
                    }
                }

                var result = await input.ReadAsync(cancellation);
                if (deadline is not null)
                {
                    if (result.IsCanceled && deadline.HasExpired)
                    {
                        input.AdvanceTo(result.Buffer.Start);
                        throw waitingOnLine ? new LineTimeoutException(lineTimeout) : new IdleTimeoutException(idleTimeout);
                    }

                    deadline.Disarm();
                }

                var buffer = result.Buffer;
                bool completed = result.IsCompleted;
                bool keepGoing = true;
                try
                {
                    if (framing == Framing.Raw)
                    {
                        if (!buffer.IsEmpty)
                        {
                            if (RateWait(rateLimit, ref rate) is var wait && wait > TimeSpan.Zero)
                            {
                                await Task.Delay(wait, cancellation);
                            }

                            keepGoing = await sink.OnMessageAsync(buffer);
                            buffer = buffer.Slice(buffer.End);
                        }
                    }
                    else
                    {
                        // The whole lines in each segment of the buffer are offered to the sink as one run; a line that
                        // spans two segments, and every line of a run the sink declined, goes one by one. A declined run
                        // is not offered again line after line: that would scan it once per line.
                        long offerWhenNoLongerThan = long.MaxValue;
                        while (keepGoing)
                        {
                            if (!rateLimit.IsOn && buffer.Length <= offerWhenNoLongerThan && !lines.IsDiscarding
                                && buffer.FirstSpan.LastIndexOf((byte)'\n') is var lastLineFeed and >= 0)
                            {
                                if (sink.TryTakeLines(buffer.FirstSpan[..(lastLineFeed + 1)]))
                                {
                                    buffer = buffer.Slice(lastLineFeed + 1);
                                    continue;
                                }

                                offerWhenNoLongerThan = buffer.Length - (lastLineFeed + 1);
                            }

                            var found = lines.TryRead(ref buffer, out var line);
                            if (found == LineReadResult.NeedMoreData)
                            {
                                break;
                            }

                            if (RateWait(rateLimit, ref rate) is var wait && wait > TimeSpan.Zero)
                            {
                                // Over its rate: hold this line and stop reading for a while; nothing is dropped, and
                                // what came before it goes out now rather than after the wait.
                                await sink.OnBatchEndAsync();
                                await Task.Delay(wait, cancellation);
                            }

                            keepGoing = found == LineReadResult.Line
                                ? await sink.OnMessageAsync(line)
                                : await sink.OnLineTooLongAsync();
                        }
                    }

                    await sink.OnBatchEndAsync();
                }
                finally
                {
                    // A sink that stops early leaves what follows for whoever reads next, so it must not be marked as seen.
                    input.AdvanceTo(buffer.Start, keepGoing ? buffer.End : buffer.Start);
                }

                // Bytes left over are the start of an unfinished line: its clock starts with its first byte.
                partialLineSince = buffer.IsEmpty || lines.IsDiscarding ? 0 : partialLineSince == 0 ? Stopwatch.GetTimestamp() : partialLineSince;

                // A cancelled read that was not a deadline is a sweep that lost the race with a re-arm: read again.
                if (!keepGoing || completed)
                {
                    return;
                }
            }
        }
        finally
        {
            deadline?.Dispose();
        }
    }

    // How long the next message must wait under the connection's rate; the bucket is made with the first message.
    private static TimeSpan RateWait(RateLimit rateLimit, ref TokenBucket? bucket) =>
        rateLimit.IsOn ? (bucket ??= rateLimit.NewBucket()).Take() : TimeSpan.Zero;
}
