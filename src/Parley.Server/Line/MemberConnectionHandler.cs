using System.Buffers;
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
/// What the line and raw chat front ends share around their own protocol: a member with a bounded queue, its writer,
/// the reader loop, and the goodbye. A front end supplies how a member is made, what reads mean and how it leaves.
/// </summary>
internal abstract class MemberConnectionHandler(ServerOptions options, OutputBudget budget, ReadDeadlines deadlines, ConnectionLimiter limiter, IHostApplicationLifetime lifetime, ILogger logger)
    : ServiceConnectionHandler(limiter, lifetime, logger)
{
    protected ServerOptions Options { get; } = options;

    protected ReadDeadlines Deadlines { get; } = deadlines;

    /// <summary>How the reader cuts input into messages: the listener's framing, unless the protocol fixes it (IRC).</summary>
    protected virtual Framing MessageFraming => Options.Framing;

    /// <summary>The longest message read: the listener's line limit, unless the protocol fixes it (IRC).</summary>
    protected virtual int MaxMessageBytes => Options.MaxLineBytes;

    /// <summary>The reader's sink for one member; the handler calls <see cref="MemberSink.StartAsync"/> before reading.</summary>
    protected abstract ValueTask<MemberSink> OpenAsync(ConnectionContext connection, string remote, OutboundQueue queue, CancellationToken cancellation);

    protected override async ValueTask<Task> StartAsync(ConnectionContext connection, string remote, CancellationToken cancellation)
    {
        if (!await AdmitAsync(connection, remote, cancellation))
        {
            return Task.CompletedTask;
        }

        var queue = MemberLoop.NewQueue(Options, budget);
        var writing = OutputWriter.StartAsync(connection, queue);
        MemberSink sink;
        // From here until the member is in its first room, in the limiter's lane (the run below leaves it).
        await Limiter.EnterStartAsync(cancellation);
        try
        {
            sink = await OpenAsync(connection, remote, queue, cancellation);
        }
        catch (Exception ex) when (ex is not Bus.BusUnavailableException)
        {
            Limiter.LeaveStart();
            queue.Complete();
            throw;
        }
        catch (Bus.BusUnavailableException ex)
        {
            Limiter.LeaveStart();
            // Across nodes a newcomer's guest name comes from Redis; while it is out of reach nobody new is let in (those
            // already here stay). One line, then the connection closes: `parley chat` tries its next server.
            ChatLog.BusUnavailable(Logger, "a new connection", ex.Message);
            queue.EnqueueFinal(Encoding.UTF8.GetBytes("! disconnected: the other servers of this chat cannot be reached; try again in a moment\n"));
            queue.Complete();
            await MemberLoop.FinishWritingAsync(writing, connection, AbortConnection);
            queue.Abandon();
            return Task.CompletedTask;
        }

        // Returned, not awaited: the connection waits in the member's loop alone from here (see StartAsync).
        return MemberLoop.RunAsync(connection.Transport.Input, MessageFraming, MaxMessageBytes, sink, writing, connection, AbortConnection, Options, Deadlines, Logger, Limiter);
    }

    // Static, so no connection pays for a closure and a delegate it only needs for a peer that stopped reading.
    private static void AbortConnection(object connection) => ((ConnectionContext)connection).Abort(new ConnectionAbortedException("the peer stopped reading"));

    /// <summary>Checks what must be checked before the connection becomes a member (a server password); false turns it away.</summary>
    protected virtual ValueTask<bool> AdmitAsync(ConnectionContext connection, string remote, CancellationToken cancellation) => ValueTask.FromResult(true);
}

/// <summary>A front end's reader side for one member: what its messages mean, and how it starts and leaves.</summary>
internal abstract class MemberSink(ChatMember member) : IMessageSink
{
    public ChatMember Member { get; } = member;

    public string QuitReason { get; protected set; } = "connection closed";

    public virtual ValueTask StartAsync() => ValueTask.CompletedTask;

    public abstract ValueTask EndAsync(string reason);

    public abstract ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message);

    public abstract ValueTask<bool> OnLineTooLongAsync();

    public virtual ValueTask OnBatchEndAsync() => ValueTask.CompletedTask;
}
