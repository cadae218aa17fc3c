using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Unicode;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Server.Logging;

namespace Parley.Server.Echo;

/// <summary>
/// Sends each message back unchanged, or answers every message with a fixed reply (<c>--reply</c>). Replies to
/// everything one read returned are flushed together, so a client with many messages in flight gets few sends.
/// </summary>
internal sealed class EchoConnectionHandler(ServerOptions options, ReadDeadlines deadlines, ConnectionLimiter limiter, IHostApplicationLifetime lifetime, ILogger<EchoConnectionHandler> logger)
    : ServiceConnectionHandler(limiter, lifetime, logger)
{
    protected override string FrontEnd => "echo";

    protected override ValueTask<Task> StartAsync(ConnectionContext connection, string remote, CancellationToken cancellation)
    {
        bool raw = options.Framing == Framing.Raw;
        byte[]? reply = options.EchoReply is null ? null : Encoding.UTF8.GetBytes(raw ? options.EchoReply : options.EchoReply + "\n");
        var sink = new EchoSink(connection.Transport.Output, raw, reply, options.MaxLineBytes, remote, Logger, cancellation);
        return new(MessageReader.RunAsync(connection.Transport.Input, options.Framing, options.MaxLineBytes, sink, cancellation, options.IdleTimeout, lineTimeout: options.LineTimeout, deadlines: deadlines));
    }

    private sealed class EchoSink(PipeWriter output, bool raw, byte[]? reply, int maxLineBytes, string remote, ILogger logger, CancellationToken cancellation)
        : IMessageSink
    {
        private static readonly UTF8Encoding ReplacingUtf8 = new(false, false);

        public ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message)
        {
            if (reply is not null)
            {
                output.Write(reply);
            }
            else if (raw)
            {
                foreach (var segment in message)
                {
                    output.Write(segment.Span);
                }
            }
            else
            {
                WriteLine(message);
            }

            return ValueTask.FromResult(true);
        }

        // What the line-by-line path would send for these lines is the same bytes, as long as none has a CR to
        // drop, none is too long and all of it is valid UTF-8 (LF never occurs inside a character, so the run is
        // valid exactly when every line is). Anything else goes line by line. Only line framing offers runs.
        public bool TryTakeLines(ReadOnlySpan<byte> lines)
        {
            if (reply is not null || lines.Contains((byte)'\r') || !AllWithinLimit(lines) || !Utf8.IsValid(lines))
            {
                return false;
            }

            output.Write(lines);
            return true;
        }

        private bool AllWithinLimit(ReadOnlySpan<byte> lines)
        {
            while (lines.Length > maxLineBytes + 1)
            {
                int lineFeed = lines.IndexOf((byte)'\n');
                if (lineFeed > maxLineBytes)
                {
                    return false;
                }

                lines = lines[(lineFeed + 1)..];
            }

            return true;
        }

        public ValueTask<bool> OnLineTooLongAsync()
        {
            ConnectionLog.LineTooLong(logger, remote, maxLineBytes);
            output.Write(Encoding.UTF8.GetBytes($"! line too long (max {maxLineBytes} bytes)\n"));
            return ValueTask.FromResult(true);
        }

        public async ValueTask OnBatchEndAsync() => await output.FlushAsync(cancellation);

        // Valid UTF-8 goes back byte for byte; anything else is repaired first, because in line framing invalid
        // bytes are never passed on as they came.
        private void WriteLine(ReadOnlySequence<byte> line)
        {
            ReadOnlySpan<byte> bytes = line.IsSingleSegment ? line.FirstSpan : line.ToArray();
            if (Utf8.IsValid(bytes))
            {
                output.Write(bytes);
            }
            else
            {
                output.Write(ReplacingUtf8.GetBytes(ReplacingUtf8.GetString(bytes)));
            }

            output.Write("\n"u8);
        }
    }
}
