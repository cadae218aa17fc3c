using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Parley.Protocol.Chat;
using Parley.Protocol.Text;
using Parley.Server.Connections;
using Parley.Server.Hosting;

namespace Parley.Server.Line;

/// <summary>
/// With <c>--password</c>, a chat connection's first line must be <c>/pass SECRET</c>. Until it is, the connection
/// is not in any room and hears nothing; anything else, or a wrong secret, is answered with one line and closed.
/// </summary>
internal static class PasswordGate
{
    // Long enough for a person pasting a password into nc, short enough that strangers cannot park connections.
    private static readonly TimeSpan FirstLineWait = TimeSpan.FromSeconds(30);

    /// <summary>Returns null when the right password came first, or the error line to send before closing.</summary>
    public static async Task<string?> CheckAsync(PipeReader input, string password, ServerOptions options, ReadDeadlines deadlines, CancellationToken cancellation)
    {
        var first = new FirstLine();
        try
        {
            await MessageReader.RunAsync(input, Framing.Line, options.MaxLineBytes, first, cancellation, FirstLineWait, deadlines: deadlines);
        }
        catch (IdleTimeoutException)
        {
            return "password required: send /pass PASSWORD first";
        }

        if (first.Text is null || ChatInput.Parse(first.Text) is not { Kind: ChatInputKind.Unknown, Argument: "pass" } pass)
        {
            return "password required: send /pass PASSWORD first";
        }

        // Fixed-time comparison: how many leading characters were right must not show in the answer's timing.
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(pass.Text), Encoding.UTF8.GetBytes(password))
            ? null
            : "wrong password";
    }

    private sealed class FirstLine : IMessageSink
    {
        public string? Text { get; private set; }

        public ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message)
        {
            Text = TextSanitizer.Sanitize(message);
            return ValueTask.FromResult(false);
        }

        public ValueTask<bool> OnLineTooLongAsync() => ValueTask.FromResult(false);

        public ValueTask OnBatchEndAsync() => ValueTask.CompletedTask;
    }
}
