using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Server.Logging;

namespace Parley.Server.Connections;

/// <summary>
/// What every TCP service does around its own protocol: the tutorials' accept and close log lines, one
/// token that fires when the server stops, and telling expected endings (reset, FIN,
/// shutdown) from our own faults.
/// </summary>
internal abstract class ServiceConnectionHandler(ConnectionLimiter limiter, IHostApplicationLifetime lifetime, ILogger logger) : ConnectionHandler
{
    protected ILogger Logger { get; } = logger;

    protected ConnectionLimiter Limiter { get; } = limiter;

    protected IHostApplicationLifetime Lifetime { get; } = lifetime;

    /// <summary>The front end's name in metrics (<c>parley.connections.active{frontend="line"}</c>).</summary>
    protected virtual string FrontEnd => "line";

    // Made where it is used rather than kept across the connection's awaits: the state machine a connection waits in
    // stays 16 B smaller.
    private KeyValuePair<string, object?> FrontEndTag => new("frontend", FrontEnd);

    public sealed override async Task OnConnectedAsync(ConnectionContext connection)
    {
        string remote = EndpointText.Of(connection.RemoteEndPoint);
        ConnectionLog.Accepted(Logger, remote);
        if (Limiter.TryAcquire(connection.RemoteEndPoint) is { } refusal)
        {
            ParleyMetrics.RefusedConnections.Add(1);
            ConnectionLog.Refused(Logger, remote, refusal);
            await RefuseAsync(connection, refusal);
            ConnectionLog.Closed(Logger, remote);
            return;
        }

        if (connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
        {
            KeepAlive.Apply(socket);
        }

        ParleyMetrics.ActiveConnections.Add(1, FrontEndTag);
        try
        {
            // Not ConnectionClosed: Kestrel fires it on the peer's FIN, and a client that sends and then half-closes
            // (nc -N, a piped script) must still get every answer. The end of input is seen by the pipe itself.
            await await StartAsync(connection, remote, Lifetime.ApplicationStopping);
        }
        catch (PeerTimeoutException timeout)
        {
            ParleyMetrics.IdleTimeouts.Add(1);
            ConnectionLog.Reset(Logger, remote, timeout.Message);
            await RefuseAsync(connection, $"! disconnected: {timeout.Message}");
        }
        catch (Exception ex) when (IsExpectedEnding(ex))
        {
            ConnectionLog.Reset(Logger, remote, ex.Message);
        }
        catch (Exception ex)
        {
            ConnectionLog.Failed(Logger, ex, connection.ConnectionId, remote);
        }
        finally
        {
            Limiter.Release(connection.RemoteEndPoint);
            ParleyMetrics.ActiveConnections.Add(-1, FrontEndTag);
            ConnectionLog.Closed(Logger, remote);
        }
    }

    private static async Task RefuseAsync(ConnectionContext connection, string line)
    {
        try
        {
            await connection.Transport.Output.WriteAsync(System.Text.Encoding.UTF8.GetBytes(line + "\n"));
            await connection.Transport.Output.CompleteAsync();
        }
        catch (Exception ex) when (IsExpectedEnding(ex))
        {
            // The peer is already gone; it was being turned away anyway.
        }
    }

    /// <summary>
    /// Starts the service on the connection and returns the task that runs it until the connection ends. Steps that
    /// come before the service's loop (a password, becoming a chat member) are awaited here and the loop's own task is
    /// returned, not awaited: an idle connection is then parked in the loop's state machine alone, not in the steps'
    /// as well (about 200 B a connection).
    /// </summary>
    protected abstract ValueTask<Task> StartAsync(ConnectionContext connection, string remote, CancellationToken cancellation);

    private static bool IsExpectedEnding(Exception ex) => ex is OperationCanceledException
        or ConnectionResetException
        or ConnectionAbortedException
        or IOException
        or SocketException
        or ObjectDisposedException;
}
