using System.Buffers;
using System.IO.Pipelines;
using Parley.Protocol.Framing;
using Parley.Server.Hosting;

namespace Parley.Server.Connections;

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
    public static async Task RunAsync(PipeReader input, Framing framing, int maxLineBytes, IMessageSink sink, CancellationToken cancellation)
    {
        var lines = new LineReader(maxLineBytes);
        while (true)
        {
            var result = await input.ReadAsync(cancellation);
            var buffer = result.Buffer;
            bool keepGoing = true;
            try
            {
                if (framing == Framing.Raw)
                {
                    if (!buffer.IsEmpty)
                    {
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
