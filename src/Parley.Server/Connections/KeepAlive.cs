using System.Net.Sockets;

namespace Parley.Server.Connections;

/// <summary>
/// TCP keepalive with short intervals on every accepted connection. The kernel's defaults wait two hours before
/// the first probe; with these, a peer that vanished (cable pulled, laptop closed) is found within about
/// <see cref="Idle"/> + <see cref="Interval"/> × <see cref="Probes"/> = 60 s, and its chat member leaves the room.
/// </summary>
internal static class KeepAlive
{
    public static readonly TimeSpan Idle = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);
    public const int Probes = 3;

    public static void Apply(Socket socket)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)Idle.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)Interval.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, Probes);
    }
}
