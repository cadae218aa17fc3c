using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Parley.Protocol.Chat;
using Parley.Protocol.Formats;
using Parley.Server.Chat;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Server.Line;
using Parley.Server.Logging;

namespace Parley.Server.Web;

/// <summary>
/// The chat over a WebSocket (<c>/ws</c>): a thin adapter like the line front end. Each text frame in is one command
/// line, which goes into a pipe and from there through the same reader, limits, password check and commands as a TCP
/// line (<see cref="MemberLoop"/>, <see cref="LineChatSink"/>); each event out is one JSON text frame, framed once per
/// message and written by the member's writer straight into the connection (<see cref="WebSocketFrameFormatter"/>).
/// </summary>
internal sealed class WebSocketChatEndpoint(ChatHub hub, WebListeners listeners, ReadDeadlines deadlines, ConnectionLimiter limiter, ILogger<WebSocketChatEndpoint> logger)
{
    // Browsers answer pings on their own; one every 30 s keeps NATs and proxies from dropping a quiet chat.
    private static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(30);

    // How long the closing handshake may take before the socket is dropped.
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(2);

    private static readonly KeyValuePair<string, object?> FrontEndTag = new("frontend", "web");

    public async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync("this address speaks WebSocket; the chat page is at /\n");
            return;
        }

        var options = listeners.For(context.Connection.LocalPort);
        var remoteEndPoint = new IPEndPoint(context.Connection.RemoteIpAddress ?? IPAddress.None, context.Connection.RemotePort);
        string remote = EndpointText.Of(remoteEndPoint);
        if (OriginPolicy.Check(context.Request, options, context.Connection.LocalIpAddress) is { } foreign)
        {
            ParleyMetrics.RefusedConnections.Add(1);
            ConnectionLog.Refused(logger, remote, foreign);
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(foreign + "\n");
            return;
        }

        ConnectionLog.Accepted(logger, remote);
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = KeepAliveInterval });
        if (limiter.TryAcquire(remoteEndPoint) is { } refusal)
        {
            ParleyMetrics.RefusedConnections.Add(1);
            ConnectionLog.Refused(logger, remote, refusal);
            await RefuseAsync(socket, refusal.StartsWith("! ", StringComparison.Ordinal) ? refusal[2..] : refusal, "refused", WebSocketCloseStatus.PolicyViolation);
            await AwaitCloseAsync(socket);
            ConnectionLog.Closed(logger, remote);
            return;
        }

        ParleyMetrics.ActiveConnections.Add(1, FrontEndTag);
        try
        {
            await ServeAsync(socket, options, remote, context.Features.Get<CoalescingStream>() ?? throw new InvalidOperationException("the WebSocket was not upgraded through CoalescingUpgrade"), context.RequestAborted);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            ConnectionLog.Reset(logger, remote, ex.Message);
        }
        catch (Exception ex)
        {
            ConnectionLog.Failed(logger, ex, context.Connection.Id, remote);
        }
        finally
        {
            limiter.Release(remoteEndPoint);
            ParleyMetrics.ActiveConnections.Add(-1, FrontEndTag);
            ConnectionLog.Closed(logger, remote);
        }
    }

    private async Task ServeAsync(WebSocket socket, ServerOptions options, string remote, CoalescingStream connection, CancellationToken aborted)
    {
        // Frames become lines in a pipe, so the line reader applies --max-line, --rate-limit and the timeouts as on
        // TCP. The pipe holds at most a few lines' worth: past that the pump stops receiving, and TCP pushes back on
        // the browser, as it pushes back on a TCP client that is read later.
        long pause = Math.Max(64 * 1024, 2L * options.MaxLineBytes);
        var lines = new Pipe(new PipeOptions(pauseWriterThreshold: pause, resumeWriterThreshold: pause / 2, useSynchronizationContext: false));
        using var stopPump = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var pumping = PumpFramesAsync(socket, lines.Writer, stopPump.Token);
        try
        {
            if (options.Password is { } password
                && await PasswordGate.CheckAsync(lines.Reader, password, options, deadlines, aborted) is { } refused)
            {
                ChatLog.PasswordRefused(logger, remote, refused);
                await RefuseAsync(socket, refused, refused.StartsWith("wrong", StringComparison.Ordinal) ? "wrong_password" : "password_required", WebSocketCloseStatus.PolicyViolation);
                return;
            }

            var queue = MemberLoop.NewQueue(options, hub.Budget);
            var writing = OutputWriter.DrainAsync(queue, connection, aborted);
            ChatMember member;
            try
            {
                // Whole frames, so a run of events that goes to the same members is one array of frames back to back,
                // queued once per member as a run of lines is on TCP, rather than one queue entry per event.
                member = await hub.ConnectAsync(remote, queue, WebSocketFrameFormatter.Instance, cancellation: aborted);
            }
            catch (Bus.BusUnavailableException ex)
            {
                // Across nodes a guest name comes from Redis; while it is out of reach nobody new is let in (docs/cluster.md).
                // The writer ends with its empty queue before the refusal goes out: one writer on the socket at a time.
                ChatLog.BusUnavailable(logger, "a new connection", ex.Message);
                queue.Abandon();
                await writing;
                await RefuseAsync(socket, "the other servers of this chat cannot be reached; try again in a moment", "bus_unavailable", WebSocketCloseStatus.EndpointUnavailable);
                return;
            }

            var sink = new LineChatSink(new ChatSession(hub, member, options, limiter, logger), options, logger, LineDialect.WebSocket);
            await MemberLoop.RunAsync(lines.Reader, options.Framing, options.MaxLineBytes, sink, writing, socket, static socket => ((WebSocket)socket).Abort(), options, deadlines, logger);
            await CloseAsync(socket, WebSocketCloseStatus.NormalClosure, member.CutOffReason);
        }
        finally
        {
            // The browser answers our close frame with its own; until then its last frames are read and dropped, so
            // the connection ends in a clean close rather than a reset that could eat the last event sent.
            await lines.Reader.CompleteAsync();
            try
            {
                await pumping.WaitAsync(CloseWait, CancellationToken.None);
            }
            catch (TimeoutException)
            {
                await stopPump.CancelAsync();
                await pumping;
            }
        }
    }

    /// <summary>
    /// Moves each frame's bytes into the pipe and ends the frame with LF; ends when the browser closes or goes. Frames
    /// that arrived together are flushed together, so the line reader takes them in one read and the room relays them
    /// as one burst (one queue entry per member, as for lines that came in one TCP read) instead of a burst per frame.
    /// </summary>
    private static async Task PumpFramesAsync(WebSocket socket, PipeWriter lines, CancellationToken cancellation)
    {
        // A flush at least this often, so the pipe's pause threshold still pushes back on a client that sends flat out.
        const int FlushAtLeastEvery = 16 * 1024;
        var buffer = new byte[4096];
        bool discarding = false;
        int unflushed = 0;
        try
        {
            while (true)
            {
                var receiving = socket.ReceiveAsync(buffer.AsMemory(), cancellation);
                if (unflushed > 0 && (!receiving.IsCompleted || unflushed >= FlushAtLeastEvery))
                {
                    // Nothing more buffered (the receive has to wait for the network), or a lot in hand: hand it on now.
                    unflushed = 0;
                    var flushed = await lines.FlushAsync(cancellation);
                    discarding = flushed.IsCompleted || flushed.IsCanceled;
                }

                var received = await receiving;
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                // Once nobody reads the lines (the member has ended), frames are only read to reach the close frame.
                if (discarding)
                {
                    continue;
                }

                lines.Write(buffer.AsSpan(0, received.Count));
                unflushed += received.Count;
                if (received.EndOfMessage)
                {
                    lines.Write("\n"u8);
                    unflushed++;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The browser went away or the member ended: either way the reader sees the end of input.
        }
        finally
        {
            // The lines before the close (a last "/quit") still reach the reader.
            if (unflushed > 0 && !discarding)
            {
                try
                {
                    await lines.FlushAsync(CancellationToken.None);
                }
                catch (InvalidOperationException)
                {
                    // The reader has completed: nobody is left to read them.
                }
            }

            await lines.CompleteAsync();
        }
    }

    private static async Task RefuseAsync(WebSocket socket, string text, string code, WebSocketCloseStatus status)
    {
        var error = new ChatEvent(ChatEventType.Error, DateTimeOffset.UtcNow) { Text = text, Code = code };
        byte[] json = JsonFormatter.Instance.Format(error);
        try
        {
            using var timeout = new CancellationTokenSource(CloseWait);
            await socket.SendAsync(json.AsMemory(0, json.Length - 1), WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // Gone already; it was being turned away anyway.
        }

        await CloseAsync(socket, status, code);
    }

    // Reads up to the browser's close frame (briefly), so the connection is closed cleanly, not reset.
    private static async Task AwaitCloseAsync(WebSocket socket)
    {
        var buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(CloseWait);
        try
        {
            while (socket.State == WebSocketState.CloseSent && (await socket.ReceiveAsync(buffer, timeout.Token)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // Gone, or never answered: dropped either way.
        }
    }

    // The close frame's reason is for people reading browser consoles; the page acts on the error event before it.
    private static async Task CloseAsync(WebSocket socket, WebSocketCloseStatus status, string reason)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(CloseWait);
            await socket.CloseOutputAsync(status, reason.Length > 100 ? reason[..100] : reason, timeout.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            socket.Abort();
        }
    }
}
