using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Protocol.Chat;
using Parley.Protocol.Text;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Server.Logging;

namespace Parley.Server.Chat;

/// <summary>
/// The chat service on one connection: a reader that turns lines into hub calls and a writer that drains the
/// member's queue. The reader never writes and never waits on another member.
/// </summary>
internal sealed class ChatConnectionHandler(ChatHub hub, ServerOptions options, ReadDeadlines deadlines, ConnectionLimiter limiter, IHostApplicationLifetime lifetime, ILogger<ChatConnectionHandler> logger)
    : ServiceConnectionHandler(limiter, lifetime, logger)
{
    // How long a member that was cut off or told the server is stopping gets to take its last line before the socket is dropped.
    private static readonly TimeSpan LastLineGrace = TimeSpan.FromSeconds(2);

    protected override async Task HandleAsync(ConnectionContext connection, string remote, CancellationToken cancellation)
    {
        bool raw = options.Framing == Framing.Raw;
        if (!raw && options.Password is { } password
            && await PasswordGate.CheckAsync(connection.Transport.Input, password, options, deadlines, cancellation) is { } refusal)
        {
            ChatLog.PasswordRefused(Logger, remote, refusal);
            await connection.Transport.Output.WriteAsync(Encoding.UTF8.GetBytes($"! {refusal}\n"), cancellation);
            return;
        }

        var queue = new OutboundQueue(options.MaxBacklogBytes);
        var member = raw ? hub.ConnectRaw(remote, queue) : hub.Connect(remote, queue);
        // The session ends through the hub, not the server-stopping token: on shutdown the hub first queues
        // "* server shutting down" for every member and then cuts each one off. Token callbacks run newest first,
        // so a reader listening to the stopping token itself could close its queue before the notice was in it.
        var session = member.CutOffToken;
        // The writer ends when the queue completes, or when the transport does (a reset completes the pipe, or
        // fails the socket's send); a peer that stops reading is aborted after a grace period below.
        // On plain TCP the writer sends from the shared line arrays itself; Kestrel's pipe would copy every line
        // into every member's buffer first. TLS has to go through the pipe, where the stream encrypts.
        var socket = options.TlsCertificate is null ? connection.Features.Get<IConnectionSocketFeature>()?.Socket : null;
        var writing = socket is null ? queue.DrainAsync(connection.Transport.Output) : queue.DrainAsync(socket);
        var sink = raw ? (ChatSink)new RawChatSink(hub, member) : new LineChatSink(hub, member, options, Limiter, Logger);
        (sink as LineChatSink)?.StartGrace(options.NickGracePeriod);
        try
        {
            var rate = options.RateLimit > 0 ? new TokenBucket(options.RateLimit, options.RateBurst, TimeProvider.System) : null;
            await MessageReader.RunAsync(connection.Transport.Input, options.Framing, options.MaxLineBytes, sink, session, options.IdleTimeout, rate, options.LineTimeout, deadlines);
        }
        catch (PeerTimeoutException timeout)
        {
            ParleyMetrics.IdleTimeouts.Add(1);
            member.CutOff(timeout.Reason, $"disconnected: {timeout.Message}");
        }
        catch (OperationCanceledException) when (session.IsCancellationRequested)
        {
            // Cut off, stopped, or the client went away: the finally block below says goodbye either way.
        }
        finally
        {
            (sink as IDisposable)?.Dispose();
            if (raw)
            {
                hub.DisconnectRaw(member);
            }
            else
            {
                hub.Disconnect(member, member.CutOffReason is { Length: > 0 } cut ? cut : sink.QuitReason);
            }

            if (member.CutOffReason == "too slow")
            {
                ParleyMetrics.SlowConsumerCutOffs.Add(1);
                ChatLog.SlowConsumer(Logger, member.Name, remote, options.MaxBacklogBytes);
            }

            queue.Complete();
            await FinishWritingAsync(connection, writing);
            member.Dispose();
        }
    }

    private static async Task FinishWritingAsync(ConnectionContext connection, Task writing)
    {
        try
        {
            await writing.WaitAsync(LastLineGrace);
        }
        catch (TimeoutException)
        {
            // A peer that does not read cannot hold the connection open: drop it, which ends the flush.
            connection.Abort(new ConnectionAbortedException("the peer stopped reading"));
        }
        catch (Exception)
        {
            // The writer ends with the connection; how it ended was already logged by the transport.
        }

        try
        {
            await writing;
        }
        catch (Exception)
        {
            // As above.
        }
    }

    private abstract class ChatSink : IMessageSink
    {
        public string QuitReason { get; protected set; } = "connection closed";

        public abstract ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message);

        public abstract ValueTask<bool> OnLineTooLongAsync();

        public virtual ValueTask OnBatchEndAsync() => ValueTask.CompletedTask;
    }

    private sealed class RawChatSink(ChatHub hub, ChatMember member) : ChatSink
    {
        public override ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message)
        {
            if (message.Length == 4 && message.FirstSpan.Length == 4 && message.FirstSpan.SequenceEqual("exit"u8))
            {
                return ValueTask.FromResult(false);
            }

            hub.RelayRaw(member, RawSanitizer.Sanitize(message.IsSingleSegment ? message.FirstSpan : message.ToArray()));
            return ValueTask.FromResult(true);
        }

        public override ValueTask<bool> OnLineTooLongAsync() => ValueTask.FromResult(true);
    }

    private sealed class LineChatSink(ChatHub hub, ChatMember member, ServerOptions options, ConnectionLimiter limiter, ILogger logger) : ChatSink, IDisposable
    {
        private static readonly string[] Help =
        [
            "commands:",
            "/nick NAME          take a name",
            "/join ROOM          leave this room and enter ROOM",
            "/who                the members of this room",
            "/rooms              the rooms and how many are in each",
            "/msg NAME text      a private message",
            "/me text            an action",
            "/format text|json   how the server writes to you",
            "/ping [token]       answered with pong, after everything you sent before it",
            "/oper PASSWORD      become an operator (servers started with --oper-password)",
            "/kick NAME [reason] operators: disconnect a user",
            "/ban ADDRESS        operators: disconnect and refuse an IP address until restart",
            "/quit [reason]      leave (so does the line: exit)",
            "//text              sends /text",
        ];

        private readonly List<string> _pending = [];
        private Timer? _grace;

        /// <summary>
        /// Introduces the member as a guest if it has not named itself within <paramref name="period"/>. The timer
        /// goes as soon as the member is introduced, so a long-lived connection does not keep one.
        /// </summary>
        public void StartGrace(TimeSpan period) =>
            _grace = new Timer(static state => ((LineChatSink)state!).GraceOver(), this, period, Timeout.InfiniteTimeSpan);

        public void Dispose() => StopGrace();

        private void StopGrace() => Interlocked.Exchange(ref _grace, null)?.Dispose();

        public override ValueTask OnBatchEndAsync()
        {
            SayPending();
            if (_grace is not null && member.IsAnnounced)
            {
                StopGrace();
            }

            return ValueTask.CompletedTask;
        }

        // Consecutive lines of text from one read go to the room together; anything else goes out after them.
        private void SayPending()
        {
            if (_pending.Count > 0)
            {
                hub.Say(member, _pending);
                _pending.Clear();
            }
        }

        private void GraceOver()
        {
            hub.AnnounceJoin(member);
            StopGrace();
        }

        public override ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message)
        {
            var input = ChatInput.Parse(TextSanitizer.Sanitize(message));
            // A client that sets itself up first (/format, then /nick) is introduced once, under its chosen name.
            if (input.Kind is not (ChatInputKind.Nick or ChatInputKind.Format))
            {
                hub.AnnounceJoin(member);
            }

            return ValueTask.FromResult(Dispatch(input));
        }

        public override ValueTask<bool> OnLineTooLongAsync()
        {
            SayPending();
            ConnectionLog.LineTooLong(logger, member.Remote, options.MaxLineBytes);
            Reply(ChatEventType.Error, $"line too long (max {options.MaxLineBytes} bytes)");
            return ValueTask.FromResult(true);
        }

        private bool Dispatch(ChatInput input)
        {
            if (input.Kind != ChatInputKind.Message)
            {
                SayPending();
            }

            switch (input.Kind)
            {
                case ChatInputKind.Message:
                    if (input.Argument.Length > 0)
                    {
                        _pending.Add(input.Argument);
                    }

                    break;
                case ChatInputKind.Action:
                    Check(input.Text.Length > 0 ? null : "usage: /me text", () => hub.Act(member, input.Text));
                    break;
                case ChatInputKind.Nick:
                    Check(input.Argument.Length > 0 ? hub.Rename(member, input.Argument) : "usage: /nick NAME", () => ChatLog.NickChanged(logger, member.Remote, member.Name));
                    hub.AnnounceJoin(member);
                    break;
                case ChatInputKind.Join:
                    Check(input.Argument.Length > 0 ? hub.Join(member, input.Argument) : "usage: /join ROOM", static () => { });
                    break;
                case ChatInputKind.Private:
                    Check(input.Argument.Length > 0 && input.Text.Length > 0 ? hub.SendPrivate(member, input.Argument, input.Text) : "usage: /msg NAME text", static () => { });
                    break;
                case ChatInputKind.Who:
                    member.Send(new OutboundMessage(hub.Who(member)));
                    break;
                case ChatInputKind.Rooms:
                    member.Send(new OutboundMessage(hub.Rooms()));
                    break;
                case ChatInputKind.Format:
                    SetFormat(input.Argument);
                    break;
                case ChatInputKind.Help:
                    foreach (string line in Help)
                    {
                        Reply(ChatEventType.Notice, line);
                    }

                    break;
                case ChatInputKind.Ping:
                    Reply(ChatEventType.Pong, input.Text);
                    break;
                case ChatInputKind.Oper:
                    BecomeOperator(input.Text);
                    break;
                case ChatInputKind.Kick:
                    Check(!member.IsOperator ? "only operators may /kick (see /oper)"
                        : input.Argument.Length == 0 ? "usage: /kick NAME [reason]"
                        : hub.Kick(member, input.Argument, input.Text), static () => { });
                    break;
                case ChatInputKind.Ban:
                    Ban(input.Argument);
                    break;
                case ChatInputKind.Quit:
                    QuitReason = input.Text.Length > 0 ? input.Text : "quit";
                    return false;
                default:
                    Reply(ChatEventType.Error, $"unknown command /{input.Argument} (try /help)");
                    break;
            }

            return true;
        }

        private void BecomeOperator(string secret)
        {
            bool right = options.OperatorPassword is { } password
                && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(password));
            member.IsOperator |= right;
            ChatLog.OperatorAttempt(logger, member.Remote, member.Name, right);
            Reply(right ? ChatEventType.Notice : ChatEventType.Error, right ? "you are now an operator" : "wrong operator password");
        }

        private void Ban(string address)
        {
            if (!member.IsOperator)
            {
                Reply(ChatEventType.Error, "only operators may /ban (see /oper)");
                return;
            }

            if (!System.Net.IPAddress.TryParse(address, out var ip))
            {
                Reply(ChatEventType.Error, "usage: /ban ADDRESS (an IP address, such as 203.0.113.7)");
                return;
            }

            if (ip.IsIPv4MappedToIPv6)
            {
                ip = ip.MapToIPv4();
            }

            limiter.Ban(ip);
            int kicked = hub.KickAddress(ip, member);
            Reply(ChatEventType.Notice, $"banned {ip} until the server restarts; {kicked} connection(s) cut off");
        }

        private void SetFormat(string format)
        {
            switch (format.ToLowerInvariant())
            {
                case "text":
                    member.Format = ChatFormat.Text;
                    break;
                case "json":
                    member.Format = ChatFormat.Json;
                    break;
                default:
                    Reply(ChatEventType.Error, "usage: /format text|json");
                    return;
            }

            Reply(ChatEventType.Notice, $"format is now {format.ToLowerInvariant()}");
        }

        private void Check(string? problem, Action onSuccess)
        {
            if (problem is null)
            {
                onSuccess();
            }
            else
            {
                Reply(ChatEventType.Error, problem);
            }
        }

        private void Reply(ChatEventType type, string text) =>
            member.Send(new OutboundMessage(new ChatEvent(type, DateTimeOffset.UtcNow) { Text = text, Room = member.Room?.Name ?? string.Empty }));
    }
}
