using System.Buffers;
using System.IO.Pipelines;
using Parley.Protocol.Framing;
using Parley.Server.Hosting;

namespace Parley.Server.Connections;

/// <summary>The peer sent nothing for longer than the idle timeout.</summary>
internal sealed class IdleTimeoutException(TimeSpan timeout) : Exception($"idle for {timeout.TotalSeconds:0} seconds")
{
    public TimeSpan Timeout { get; } = timeout;
}

/// <summary>What a service's reader does with each message; returning false ends the connection.</summary>
internal interface IMessageSink
{
    ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message);

    ValueTask<bool> OnLineTooLongAsync();

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
    public static async Task RunAsync(PipeReader input, Framing framing, int maxLineBytes, IMessageSink sink, CancellationToken cancellation, TimeSpan idleTimeout = default, TokenBucket? rate = null)
    {
        var lines = new LineReader(maxLineBytes);
        using var idle = idleTimeout > TimeSpan.Zero ? CancellationTokenSource.CreateLinkedTokenSource(cancellation) : null;
        while (true)
        {
            ReadResult result;
            try
            {
                // Rescheduling one timer per read is cheap, and a timer per connection is what bounds an idle one.
                idle?.CancelAfter(idleTimeout);
                result = await input.ReadAsync(idle?.Token ?? cancellation);
            }
            catch (OperationCanceledException) when (idle is { IsCancellationRequested: true } && !cancellation.IsCancellationRequested)
            {
                throw new IdleTimeoutException(idleTimeout);
            }

            var buffer = result.Buffer;
            bool keepGoing = true;
            try
            {
                if (framing == Framing.Raw)
                {
                    if (!buffer.IsEmpty)
                    {
                        if (rate?.Take() is { } wait && wait > TimeSpan.Zero)
                        {
                            await Task.Delay(wait, cancellation);
                        }

                        keepGoing = await sink.OnMessageAsync(buffer);
                        buffer = buffer.Slice(buffer.End);
                    }
                }
                else
                {
                    while (keepGoing)
                    {
                        var found = lines.TryRead(ref buffer, out var line);
                        if (found == LineReadResult.NeedMoreData)
                        {
                            break;
                        }

                        if (rate?.Take() is { } wait && wait > TimeSpan.Zero)
                        {
                            // Over its rate: hold this line and stop reading for a while; nothing is dropped.
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
                input.AdvanceTo(buffer.Start, buffer.End);
            }

            if (!keepGoing || result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
    }
}
