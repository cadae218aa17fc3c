using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Protocol.Formats;
using Parley.Protocol.Framing;
using Parley.Server.Chat;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Server.Line;

namespace Parley.Server.Irc;

/// <summary>
/// The chat service for IRC clients (<c>--irc PORT</c>): the same member machinery as the line protocol (bounded queue,
/// flow control, rate limit as fake lag, cut-offs), with IRC's framing and an <see cref="IrcSink"/> that speaks it.
/// </summary>
internal sealed class IrcConnectionHandler(ChatHub hub, ServerOptions options, ReadDeadlines deadlines, ConnectionLimiter limiter, IHostApplicationLifetime lifetime, ILogger<IrcConnectionHandler> logger)
    : MemberConnectionHandler(options, hub.Budget, deadlines, limiter, lifetime, logger)
{
    // IRC fixes its own framing: CR-LF or LF lines of 512 bytes plus up to 8,191 bytes of tags.
    protected override Framing MessageFraming => Framing.Line;

    protected override int MaxMessageBytes => IrcMessage.MaxLineBytes;

    protected override async ValueTask<MemberSink> OpenAsync(ConnectionContext connection, string remote, OutboundQueue queue, CancellationToken cancellation)
    {
        var member = await hub.ConnectAsync(remote, queue, IrcFormatter.For(Options.IrcServerName, serverTime: false, messageTags: false), cancellation: cancellation);
        member.WordsOwnEntry = true;
        member.HearsRenameOnce = true;
        return new IrcSink(new ChatSession(hub, member, Options, Limiter, Logger), Options, Logger);
    }
}
