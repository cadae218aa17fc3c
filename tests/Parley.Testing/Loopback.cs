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
}
