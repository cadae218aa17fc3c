using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Protocol.Text;
using Parley.Server.Chat;
using Parley.Server.Connections;
using Parley.Server.Hosting;

namespace Parley.Server.Line;

/// <summary>
/// The raw-framing chat room: the tutorials' chat server, made safe. It has no names and no commands; chunks go to
/// everyone else as they came, less control bytes, and arrivals and departures use the tutorials' words.
/// </summary>
internal sealed class RawChatConnectionHandler(ChatHub hub, RawChatRoom room, ServerOptions options, ReadDeadlines deadlines, ConnectionLimiter limiter, IHostApplicationLifetime lifetime, ILogger<RawChatConnectionHandler> logger)
    : MemberConnectionHandler(options, hub.Budget, deadlines, limiter, lifetime, logger)
{
    protected override string FrontEnd => "raw";

    protected override ValueTask<MemberSink> OpenAsync(ConnectionContext connection, string remote, OutboundQueue queue, CancellationToken cancellation) =>
        ValueTask.FromResult<MemberSink>(new RawSink(room, hub.ConnectUnnamed(remote, queue), hub));

    private sealed class RawSink(RawChatRoom room, ChatMember member, ChatHub hub) : MemberSink(member)
    {
        public override ValueTask StartAsync()
        {
            room.Enter(Member, hub.IsShuttingDown);
            return ValueTask.CompletedTask;
        }

        public override async ValueTask EndAsync(string reason)
        {
            room.Leave(Member, hub.IsShuttingDown);
            await hub.DisconnectAsync(Member, reason);
        }

        public override ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message)
        {
            if (message.Length == 4 && message.FirstSpan.Length == 4 && message.FirstSpan.SequenceEqual("exit"u8))
            {
                return ValueTask.FromResult(false);
            }

            room.Relay(Member, RawSanitizer.Sanitize(message.IsSingleSegment ? message.FirstSpan : message.ToArray()));
            return ValueTask.FromResult(true);
        }

        public override ValueTask<bool> OnLineTooLongAsync() => ValueTask.FromResult(true);
    }
}

/// <summary>The one raw room: its members and the relay between them, apart from the named rooms.</summary>
internal sealed class RawChatRoom
{
    private readonly Lock _gate = new();
    private ChatMember[] _members = [];

    public void Enter(ChatMember member, bool shuttingDown)
    {
        lock (_gate)
        {
            _members = [.. _members, member];
            if (!shuttingDown)
            {
                Relay(member, Encoding.UTF8.GetBytes($"[{member.Remote}] is online…\n"));
            }
        }
    }

    public void Leave(ChatMember member, bool shuttingDown)
    {
        lock (_gate)
        {
            _members = Array.FindAll(_members, m => m != member);
            if (!shuttingDown)
            {
                Relay(member, Encoding.UTF8.GetBytes($"[{member.Remote}] is down!\n"));
            }
        }
    }

    public void Relay(ChatMember from, byte[] chunk)
    {
        if (chunk.Length == 0)
        {
            return;
        }

        var message = OutboundMessage.Raw(chunk);
        long queued = 0;
        lock (_gate)
        {
            foreach (var member in _members)
            {
                if (member != from)
                {
                    queued += member.Deliver(message, out _);
                }
            }
        }

        // Once per chunk, as the hub does per line: the budget is one counter every core would fight over.
        from.Queue.Budget?.Reserve(queued);
    }
}
