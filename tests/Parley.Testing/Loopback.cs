using System.Net;
using System.Net.Sockets;

namespace Parley.Testing;

public static class Loopback
{
    /// <summary>A loopback port with nothing listening: the kernel picks it, and the socket lets it go at once.</summary>
    public static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <summary>Two ends of one loopback TCP connection, for code that writes to a socket directly.</summary>
    public static async Task<(Socket Near, Socket Far)> ConnectedPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var far = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await far.ConnectAsync(listener.LocalEndPoint!).DefaultTimeout();
        var near = await listener.AcceptAsync().DefaultTimeout();
        return (near, far);
    }
}
