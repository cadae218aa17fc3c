using System.Net.Security;
using System.Net.Sockets;

namespace Parley.Client;

/// <summary>A connected TCP client, plain or TLS: the stream to read and write, and a way to half-close it.</summary>
public sealed class ClientConnection : IAsyncDisposable
{
    private readonly Socket _socket;

    private ClientConnection(Socket socket, Stream stream)
    {
        _socket = socket;
        Stream = stream;
    }

    public Stream Stream { get; }

    /// <summary>Connects, and with <paramref name="tls"/> runs the handshake and checks the server's certificate.</summary>
    public static async Task<ClientConnection> OpenAsync(HostPort server, ClientTlsOptions? tls, CancellationToken cancellation)
    {
        var socket = await Connector.ConnectTcpAsync(server, cancellation);
        var network = new NetworkStream(socket, ownsSocket: true);
        if (tls is null)
        {
            return new ClientConnection(socket, network);
        }

        return new ClientConnection(socket, await tls.AuthenticateAsync(network, server, cancellation));
    }

    /// <summary>Stops sending (TLS close_notify, then a TCP half-close); what the server still sends can be read.</summary>
    public async Task CompleteSendingAsync()
    {
        if (Stream is SslStream ssl)
        {
            await ssl.ShutdownAsync();
        }

        _socket.Shutdown(SocketShutdown.Send);
    }

    public ValueTask DisposeAsync() => Stream.DisposeAsync();
}
