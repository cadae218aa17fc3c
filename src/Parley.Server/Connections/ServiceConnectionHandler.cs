using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Server.Logging;

namespace Parley.Server.Connections;

/// <summary>
/// What every TCP service does around its own protocol: the tutorials' accept and close log lines, one
/// token that fires when the server stops, and telling expected endings (reset, FIN,
/// shutdown) from our own faults.
/// </summary>
internal abstract class ServiceConnectionHandler(IHostApplicationLifetime lifetime, ILogger logger) : ConnectionHandler
{
    protected ILogger Logger { get; } = logger;

    protected IHostApplicationLifetime Lifetime { get; } = lifetime;

    public sealed override async Task OnConnectedAsync(ConnectionContext connection)
    {
        string remote = EndpointText.Of(connection.RemoteEndPoint);
        ConnectionLog.Accepted(Logger, remote);
        try
        {
            // Not ConnectionClosed: Kestrel fires it on the peer's FIN, and a client that sends and then half-closes
            // (nc -N, a piped script) must still get every answer. The end of input is seen by the pipe itself.
            await HandleAsync(connection, remote, Lifetime.ApplicationStopping);
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
            ConnectionLog.Closed(Logger, remote);
        }
    }

    protected abstract Task HandleAsync(ConnectionContext connection, string remote, CancellationToken cancellation);

    private static bool IsExpectedEnding(Exception ex) => ex is OperationCanceledException
        or ConnectionResetException
        or ConnectionAbortedException
        or IOException
        or SocketException
        or ObjectDisposedException;
}
