using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Server.Chat;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Server.Logging;

namespace Parley.Server.Line;

/// <summary>
/// The chat service in line framing: a thin adapter that parses each line, calls the member's
/// <see cref="ChatSession"/>, and words what comes back in the line protocol (docs/protocol.md).
/// </summary>
internal sealed class LineChatConnectionHandler(ChatHub hub, ServerOptions options, ReadDeadlines deadlines, ConnectionLimiter limiter, IHostApplicationLifetime lifetime, ILogger<LineChatConnectionHandler> logger)
    : MemberConnectionHandler(options, hub.Budget, deadlines, limiter, lifetime, logger)
{
    protected override async ValueTask<bool> AdmitAsync(ConnectionContext connection, string remote, CancellationToken cancellation)
    {
        if (Options.Password is { } password
            && await PasswordGate.CheckAsync(connection.Transport.Input, password, Options, Deadlines, cancellation) is { } refusal)
        {
            ChatLog.PasswordRefused(Logger, remote, refusal);
            await connection.Transport.Output.WriteAsync(Encoding.UTF8.GetBytes($"! {refusal}\n"), cancellation);
            return false;
        }

        return true;
    }

    protected override async ValueTask<MemberSink> OpenAsync(ConnectionContext connection, string remote, OutboundQueue queue, CancellationToken cancellation)
    {
        var member = await hub.ConnectAsync(remote, queue, cancellation: cancellation);
        return new LineChatSink(new ChatSession(hub, member, Options, Limiter, Logger), Options, Logger, LineDialect.Tcp);
    }
}
