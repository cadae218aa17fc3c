using System.IO.Pipelines;
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
    /// </summary>
    /// <param name="abort">Drops <paramref name="connection"/>: a static method, so no connection holds a closure for it.</param>
    /// <param name="starting">The limiter whose start lane the caller is in, left once the sink has started; null when not in it.</param>
    public static async Task RunAsync(PipeReader input, Framing framing, int maxMessageBytes, MemberSink sink, Task writing, object connection, Action<object> abort, ServerOptions options, ReadDeadlines deadlines, ILogger logger, ConnectionLimiter? starting = null)
    {
        var member = sink.Member;
        try
        {
            // The session ends through the member, not the server-stopping token: on shutdown the hub first queues
            // "* server shutting down" for every member and then cuts each one off. Token callbacks run newest first,
            // so a reader listening to the stopping token itself could close its queue before the notice was in it.
            try
            {
                await sink.StartAsync();
            }
            finally
            {
                starting?.LeaveStart();
            }

            var rate = options.RateLimit > 0 ? new RateLimit(options.RateLimit, options.RateBurst) : default;
            await MessageReader.RunAsync(input, framing, maxMessageBytes, sink, member.CutOffToken, options.IdleTimeout, rate, options.LineTimeout, deadlines);
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
                ChatLog.SlowConsumer(logger, member.Name, member.Remote, member.Queue.MaxPendingBytes);
            }

            member.Queue.Complete();
            await FinishWritingAsync(writing, connection, abort);
            member.Queue.Abandon();
            member.Dispose();
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
