using System.Net;
using System.Net.Sockets;

namespace Parley.Client;

/// <summary>Opens client sockets and turns failures into one line a user can act on.</summary>
public static class Connector
{
    public static async Task<Socket> ConnectTcpAsync(HostPort target, CancellationToken cancellation)
    {
        var addresses = await ResolveAsync(target, cancellation);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, target.Port), cancellation);
                return socket;
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw new ConnectException($"cannot connect to {target}: {Describe(last)}", last);
    }

    public static async Task<IPAddress[]> ResolveAsync(HostPort target, CancellationToken cancellation)
    {
        if (IPAddress.TryParse(target.Host, out var literal))
        {
            return [literal];
        }

        try
        {
            var found = await Dns.GetHostAddressesAsync(target.Host, cancellation);
            if (found.Length == 0)
            {
                throw new ConnectException($"cannot connect to {target}: unknown host");
            }

            // Loopback names resolve to ::1 first on some machines while servers default to 127.0.0.1.
            return [.. found.OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1)];
        }
        catch (SocketException ex)
        {
            throw new ConnectException($"cannot connect to {target}: unknown host", ex);
        }
    }

    public static string Describe(SocketException? ex) => ex?.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => "connection refused",
        SocketError.TimedOut => "timed out",
        SocketError.HostUnreachable => "host unreachable",
        SocketError.NetworkUnreachable => "network unreachable",
        SocketError.AddressNotAvailable => "address not available",
        null => "no address to connect to",
        _ => ex.Message.ToLowerInvariant(),
    };
}
