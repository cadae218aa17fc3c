using System.Net;
using System.Net.Sockets;

namespace Parley.Testing;

/// <summary>
/// A TCP relay between a client and a server that a test can cut: every connection through it is reset at once,
/// both ways, as a dropped Wi-Fi link or a NAT timeout would end it. New connections are relayed as before.
/// </summary>
public sealed class CuttingProxy : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly IPEndPoint _upstream;
    private readonly List<(Socket Client, Socket Server)> _open = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _accepted;

    public CuttingProxy(IPEndPoint upstream)
    {
        _upstream = upstream;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen();
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Resets every open connection, client side and server side.</summary>
    public void Cut()
    {
        lock (_open)
        {
            foreach (var (client, server) in _open)
            {
                Reset(client);
                Reset(server);
            }

            _open.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        Cut();
        await _accepting.DefaultTimeout();
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        try
        {
            await RelayEachAsync();
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Disposed: no more connections.
        }
    }

    private async Task RelayEachAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptAsync(_stop.Token);
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await server.ConnectAsync(_upstream, _stop.Token);
            }
            catch (SocketException)
            {
                // The server is down: the client sees its connection refused, as it would without the proxy.
                Reset(client);
                server.Dispose();
                continue;
            }

            Interlocked.Increment(ref _accepted);
            lock (_open)
            {
                _open.Add((client, server));
            }

            _ = PumpAsync(client, server);
            _ = PumpAsync(server, client);
        }
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                int read = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Cut, or the other side went: the pair is over.
        }
    }

    private static void Reset(Socket socket)
    {
        try
        {
            // Linger 0 makes Close send RST, so the far end learns of the cut at once, with nothing flushed.
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }
    }
}
