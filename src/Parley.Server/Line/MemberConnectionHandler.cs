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
    // How long a member that was cut off or told the server is stopping gets to take its last line before the socket is dropped.
    private static readonly TimeSpan LastLineGrace = TimeSpan.FromSeconds(2);

    protected ServerOptions Options { get; } = options;

    protected ReadDeadlines Deadlines { get; } = deadlines;

    /// <summary>How the reader cuts input into messages: the listener's framing, unless the protocol fixes it (IRC).</summary>
    protected virtual Framing MessageFraming => Options.Framing;

    /// <summary>The longest message read: the listener's line limit, unless the protocol fixes it (IRC).</summary>
    protected virtual int MaxMessageBytes => Options.MaxLineBytes;

    /// <summary>The reader's sink for one member; the handler calls <see cref="MemberSink.StartAsync"/> before reading.</summary>
    protected abstract ValueTask<MemberSink> OpenAsync(ConnectionContext connection, string remote, OutboundQueue queue, CancellationToken cancellation);

    protected override async Task HandleAsync(ConnectionContext connection, string remote, CancellationToken cancellation)
    {
        if (!await AdmitAsync(connection, remote, cancellation))
        {
            return;
        }

        // Half the backlog limit marks a reader as behind: publishers then wait for it (flow control), and the other
        // half takes what publishers already had in hand, so a reader that keeps up never reaches the limit.
        var queue = new OutboundQueue(Options.MaxBacklogBytes, Options.MaxBacklogBytes / 2, budget);
        var writing = OutputWriter.StartAsync(connection, queue);
        MemberSink sink;
        try
        {
            sink = await OpenAsync(connection, remote, queue, cancellation);
        }
        catch (Bus.BusUnavailableException ex)
        {
            // Across nodes a newcomer's guest name comes from Redis; while it is out of reach nobody new is let in (those
            // already here stay). One line, then the connection closes: `parley chat` tries its next server.
            ChatLog.BusUnavailable(Logger, "a new connection", ex.Message);
            queue.EnqueueFinal(Encoding.UTF8.GetBytes("! disconnected: the other servers of this chat cannot be reached; try again in a moment\n"));
            queue.Complete();
            await FinishWritingAsync(connection, writing);
            queue.Abandon();
            return;
        }

        var member = sink.Member;
        try
        {
            // The session ends through the member, not the server-stopping token: on shutdown the hub first queues
            // "* server shutting down" for every member and then cuts each one off. Token callbacks run newest first,
            // so a reader listening to the stopping token itself could close its queue before the notice was in it.
            await sink.StartAsync();
            var rate = Options.RateLimit > 0 ? new TokenBucket(Options.RateLimit, Options.RateBurst, TimeProvider.System) : null;
            await MessageReader.RunAsync(connection.Transport.Input, MessageFraming, MaxMessageBytes, sink, member.CutOffToken, Options.IdleTimeout, rate, Options.LineTimeout, Deadlines);
        }
        catch (PeerTimeoutException timeout)
        {
            ParleyMetrics.IdleTimeouts.Add(1);
            member.CutOff(timeout.Reason, $"disconnected: {timeout.Message}");
        }
        catch (OperationCanceledException) when (member.CutOffToken.IsCancellationRequested)
        {
            // Cut off, stopped, or the client went away: the finally block below says goodbye either way.
        }
        finally
        {
            await sink.EndAsync(member.CutOffReason is { Length: > 0 } cut ? cut : sink.QuitReason);
            if (member.CutOffReason == "too slow")
            {
                ParleyMetrics.SlowConsumerCutOffs.Add(1);
                ChatLog.SlowConsumer(Logger, member.Name, remote, Options.MaxBacklogBytes);
            }

            queue.Complete();
            await FinishWritingAsync(connection, writing);
            queue.Abandon();
            member.Dispose();
        }
    }

    /// <summary>Checks what must be checked before the connection becomes a member (a server password); false turns it away.</summary>
    protected virtual ValueTask<bool> AdmitAsync(ConnectionContext connection, string remote, CancellationToken cancellation) => ValueTask.FromResult(true);

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
