using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Parley.Server.Connections;

/// <summary>
/// The one writer loop of a connection that relays queued lines: it is the only code that writes to the connection.
/// Which kind a connection gets is decided here and nowhere else.
/// </summary>
internal static class OutputWriter
{
    /// <summary>
    /// Starts draining <paramref name="queue"/> into the connection. On plain TCP the writer sends from the shared
    /// line arrays itself; Kestrel's pipe would copy every line into every member's buffer first. When middleware sits
    /// between the handler and the socket (TLS encrypts in a stream), the bytes have to go through the pipe.
    /// Ends when the queue completes and is drained, or when the transport fails.
    /// </summary>
    public static Task StartAsync(ConnectionContext connection, OutboundQueue queue)
    {
        bool middlewareInBetween = connection.Features.Get<ITlsHandshakeFeature>() is not null;
        var socket = middlewareInBetween ? null : connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        return socket is null ? DrainAsync(queue, connection.Transport.Output) : DrainAsync(queue, socket);
    }

    /// <summary>Takes everything queued, writes it into the pipe, and flushes once, so a burst of small lines becomes one send.</summary>
    public static async Task DrainAsync(OutboundQueue queue, PipeWriter output)
    {
        while (await queue.WaitForLinesAsync())
        {
            queue.WriteQueuedTo(output);
            var flush = await output.FlushAsync();
            if (flush.IsCompleted || flush.IsCanceled)
            {
                return;
            }
        }
    }

    /// <summary>
    /// The writer loop of a WebSocket (the web page): the queued events are text frames already, framed once per
    /// message, and everything queued goes into the connection with one flush. Ends when the queue completes or the
    /// connection fails; the reader sees the same failure and ends the member.
    /// </summary>
    public static async Task DrainAsync(OutboundQueue queue, CoalescingStream connection, CancellationToken cancellation)
    {
        while (await queue.WaitForLinesAsync())
        {
            // As on TCP (below): to the back of the thread pool's queue first, so the rest of a burst joins this flush.
            await Task.Yield();
            try
            {
                await connection.WriteQueuedAsync(queue, cancellation);
            }
            catch (Exception failure) when (failure is ObjectDisposedException or OperationCanceledException or IOException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// The writer loop for a plain TCP socket: everything queued goes out in one gathered send straight from the
    /// shared line arrays, with no copy into a pipe. Ends when the queue completes or the socket fails.
    /// </summary>
    public static async Task DrainAsync(OutboundQueue queue, Socket socket)
    {
        while (await queue.WaitForLinesAsync())
        {
            // To the back of the thread pool's queue before taking the lines: the other lines of a burst (other
            // publishers' reads, queued behind the wake-ups of every member) then join this send instead of each
            // making one of their own. At 1,000 members and 10 publishers at 100 lines/s this took p50 from 46-56 ms
            // to 21-23 ms; sends were what the time went on.
            await Task.Yield();
            try
            {
                await queue.SendQueuedAsync(socket);
            }
            catch (Exception failure) when (failure is SocketException or ObjectDisposedException)
            {
                // Reset, or aborted by the transport: the reader sees the same and ends the connection.
                return;
            }
        }
    }
}
