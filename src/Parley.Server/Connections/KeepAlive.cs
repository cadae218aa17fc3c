using System.Net.Sockets;

namespace Parley.Server.Connections;

/// <summary>
/// TCP keepalive with short intervals on every accepted connection. The kernel's defaults wait two hours before
/// the first probe; with these, a peer that vanished (cable pulled, laptop closed) is found within
/// <see cref="MaxIdle"/> + <see cref="Interval"/> × <see cref="Probes"/> = 2 minutes, and its chat member leaves the room.
/// </summary>
/// <remarks>
/// Each connection's idle time is drawn between <see cref="MinIdle"/> and <see cref="MaxIdle"/>. With one fixed idle
/// time, connections that arrived together (a crowd, every client coming back after a restart) are probed together:
/// the kernel's timers at 30 s fire in 2 s steps, and on loopback 19,000 probes in one step overflowed the receive
/// backlog (1,000 packets), so 8,395 of 19,000 idle connections were aborted as dead within two minutes.
/// </remarks>
internal static class KeepAlive
{
    public static readonly TimeSpan MinIdle = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan MaxIdle = TimeSpan.FromSeconds(90);
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);
    public const int Probes = 3;

    public static void Apply(Socket socket)
    {
        int idleSeconds = Random.Shared.Next((int)MinIdle.TotalSeconds, (int)MaxIdle.TotalSeconds + 1);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, idleSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)Interval.TotalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, Probes);
    }
}
