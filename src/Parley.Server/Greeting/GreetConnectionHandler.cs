using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Protocol.Text;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Server.Logging;

namespace Parley.Server.Greeting;

/// <summary>
/// The tutorials' greeting server: <c>welcome!</c> on connect, <c>hello X</c> for each message X, and the message
/// <c>exit</c> ends the session. In raw framing replies carry no newline, so the tutorials' client prints exactly
/// what the tutorial shows.
/// </summary>
internal sealed class GreetConnectionHandler(ServerOptions options, ReadDeadlines deadlines, ConnectionLimiter limiter, IHostApplicationLifetime lifetime, ILogger<GreetConnectionHandler> logger)
    : ServiceConnectionHandler(limiter, lifetime, logger)
{
    protected override string FrontEnd => "greet";

    protected override async ValueTask<Task> StartAsync(ConnectionContext connection, string remote, CancellationToken cancellation)
    {
        var output = connection.Transport.Output;
        bool raw = options.Framing == Framing.Raw;
        output.Write(raw ? "welcome!"u8 : "welcome!\n"u8);
        await output.FlushAsync(cancellation);
        var sink = new GreetSink(output, raw, options.MaxLineBytes, remote, Logger, cancellation);
        return MessageReader.RunAsync(connection.Transport.Input, options.Framing, options.MaxLineBytes, sink, cancellation, options.IdleTimeout, lineTimeout: options.LineTimeout, deadlines: deadlines);
    }

    private sealed class GreetSink(PipeWriter output, bool raw, int maxLineBytes, string remote, ILogger logger, CancellationToken cancellation) : IMessageSink
    {
        public ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message)
        {
            if (raw)
            {
                if (IsExit(message))
                {
                    return ValueTask.FromResult(false);
                }

                output.Write("hello "u8);
                foreach (var segment in message)
                {
                    output.Write(segment.Span);
                }

                return ValueTask.FromResult(true);
            }

            string text = TextSanitizer.Sanitize(message);
            if (text == "exit")
            {
                return ValueTask.FromResult(false);
            }

            WriteLine($"hello {text}");
            return ValueTask.FromResult(true);
        }

        public ValueTask<bool> OnLineTooLongAsync()
        {
            ConnectionLog.LineTooLong(logger, remote, maxLineBytes);
            WriteLine($"! line too long (max {maxLineBytes} bytes)");
            return ValueTask.FromResult(true);
        }

        public async ValueTask OnBatchEndAsync() => await output.FlushAsync(cancellation);

        private static bool IsExit(ReadOnlySequence<byte> message) =>
            message.Length == 4 && (message.IsSingleSegment ? message.FirstSpan : message.ToArray()).SequenceEqual("exit"u8);

        private void WriteLine(string line)
        {
            int length = Encoding.UTF8.GetByteCount(line);
            var span = output.GetSpan(length + 1);
            Encoding.UTF8.GetBytes(line, span);
            span[length] = (byte)'\n';
            output.Advance(length + 1);
        }
    }
}
