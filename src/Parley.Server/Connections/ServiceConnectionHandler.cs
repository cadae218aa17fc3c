using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Server.Logging;

namespace Parley.Server.Connections;

/// <summary>
/// What every TCP service does around its own protocol: the tutorials' accept and close log lines, one
/// connection-scoped token (client gone or server stopping), and telling expected endings (reset, FIN,
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
        using var scope = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed, Lifetime.ApplicationStopping);
        try
        {
            await HandleAsync(connection, remote, scope.Token);
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
