using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Server.Logging;

namespace Parley.Server.Line;

/// <summary>
/// A chat member's life on any connection that reads lines: TCP (<see cref="MemberConnectionHandler"/>) and the web
/// page's WebSocket, whose frames arrive as lines in a pipe. One place applies the limits of both, so a browser
/// meets the same line length, rate, backlog and timeouts as <c>nc</c>.
/// </summary>
internal static class MemberLoop
{
    // How long a member that was cut off or told the server is stopping gets to take its last line before the socket is dropped.
    private static readonly TimeSpan LastLineGrace = TimeSpan.FromSeconds(2);

    /// <summary>
    /// A member's outbound queue. Half the backlog limit marks a reader as behind: publishers then wait for it (flow
    /// control), and the other half takes what publishers already had in hand, so a reader that keeps up never reaches
    /// the limit.
    /// </summary>
    public static OutboundQueue NewQueue(ServerOptions options, OutputBudget budget) =>
        new(options.MaxBacklogBytes, options.MaxBacklogBytes / 2, budget);

    /// <summary>
    /// Starts the sink, reads lines into it until the peer leaves, quits or is cut off, then says goodbye and lets the
    /// writer finish: it gets a moment for the last line, after which <paramref name="abort"/> drops the connection.
    /// All of it runs in the reader's own state machine (<see cref="MemberSink"/> starts and ends the session there):
    /// an idle member waits in that one, not also in a loop around it.
    /// </summary>
    /// <param name="abort">Drops <paramref name="connection"/>: a static method, so no connection holds a closure for it.</param>
    /// <param name="starting">The limiter whose start lane the caller is in, left once the sink has started; null when not in it.</param>
    public static Task RunAsync(PipeReader input, Framing framing, int maxMessageBytes, MemberSink sink, Task writing, object connection, Action<object> abort, ServerOptions options, ReadDeadlines deadlines, ILogger logger, ConnectionLimiter? starting = null)
    {
        sink.Attach(new MemberRun(writing, connection, abort, logger, starting));
        var rate = options.RateLimit > 0 ? new RateLimit(options.RateLimit, options.RateBurst) : default;
        // The session ends through the member, not the server-stopping token: on shutdown the hub first queues
        // "* server shutting down" for every member and then cuts each one off. Token callbacks run newest first,
        // so a reader listening to the stopping token itself could close its queue before the notice was in it.
        return MessageReader.RunAsync(input, framing, maxMessageBytes, sink, sink.Member.CutOffToken, options.IdleTimeout, rate, options.LineTimeout, deadlines);
    }

    /// <summary>The start: the sink's own, then the caller's start lane is left.</summary>
    internal static async ValueTask StartAsync(MemberSink sink, MemberRun run)
    {
        try
        {
            await sink.StartAsync();
        }
        finally
        {
            run.Starting?.LeaveStart();
        }
    }

    /// <summary>
    /// The goodbye, however the reader ended: a timeout cuts the member off with its reason, then the sink ends the
    /// session, the writer gets its moment for the last line, and the member is let go. An ending that is not a
    /// timeout or a cut-off is thrown on, as it came.
    /// </summary>
    internal static async ValueTask EndAsync(MemberSink sink, MemberRun run, Exception? failure)
    {
        var member = sink.Member;
        if (failure is PeerTimeoutException timeout)
        {
            ParleyMetrics.IdleTimeouts.Add(1);
            member.CutOff(timeout.Reason, $"disconnected: {timeout.Message}");
            failure = null;
        }
        else if (failure is OperationCanceledException && member.CutOffToken.IsCancellationRequested)
        {
            // Cut off, stopped, or the client went away: the goodbye below either way.
            failure = null;
        }

        try
        {
            await sink.EndAsync(member.CutOffReason is { Length: > 0 } cut ? cut : sink.QuitReason);
            if (member.CutOffReason == "too slow")
            {
                ParleyMetrics.SlowConsumerCutOffs.Add(1);
                ChatLog.SlowConsumer(run.Logger, member.Name, member.Remote, member.Queue.MaxPendingBytes);
            }
        }
        finally
        {
            member.Queue.Complete();
            await FinishWritingAsync(run.Writing, run.Connection, run.Abort);
            member.Queue.Abandon();
            member.Dispose();
        }

        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>Lets the writer take the last line for a moment, then drops the connection through <paramref name="abort"/>.</summary>
    public static async Task FinishWritingAsync(Task writing, object connection, Action<object> abort)
    {
        try
        {
            await writing.WaitAsync(LastLineGrace);
        }
        catch (TimeoutException)
        {
            // A peer that does not read cannot hold the connection open: drop it, which ends the flush.
            abort(connection);
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

/// <summary>What a member's goodbye needs once its reader stops, kept in the sink (see <see cref="MemberLoop.RunAsync"/>).</summary>
/// <remarks>The member's queue is not in it: it is the member's own (<see cref="Chat.ChatMember.Queue"/>).</remarks>
internal readonly record struct MemberRun(Task Writing, object Connection, Action<object> Abort, ILogger Logger, ConnectionLimiter? Starting);
