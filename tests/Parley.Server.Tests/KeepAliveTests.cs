using System.Net;
using System.Net.Sockets;
using Parley.Server.Connections;

namespace Parley.Server.Tests;

public class KeepAliveTests
{
    [Fact]
    public void AcceptedConnectionsProbeAVanishedPeerWithinTwoMinutes()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using var accepted = listener.Accept();

        KeepAlive.Apply(accepted);

        Assert.Equal(1, (int)accepted.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive)!);
        Assert.InRange((int)accepted.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime)!, 30, 90);
        Assert.Equal(10, (int)accepted.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval)!);
        Assert.Equal(3, (int)accepted.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount)!);
        Assert.True(KeepAlive.MaxIdle + (KeepAlive.Interval * KeepAlive.Probes) <= TimeSpan.FromMinutes(2));
    }

    [Fact]
    public void ConnectionsThatArriveTogetherAreNotProbedTogether()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var sockets = new List<Socket>();
        var idleTimes = new HashSet<int>();
        try
        {
            for (int i = 0; i < 20; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(client);
                client.Connect(listener.LocalEndPoint!);
                var accepted = listener.Accept();
                sockets.Add(accepted);
                KeepAlive.Apply(accepted);
                idleTimes.Add((int)accepted.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime)!);
            }
        }
        finally
        {
            sockets.ForEach(socket => socket.Dispose());
        }

        // Twenty draws from 61 idle times all alike would be a one-in-10^33 chance: a fixed idle time fails here.
        Assert.True(idleTimes.Count > 1, $"every connection got the same idle time: {string.Join(", ", idleTimes)} s");
        Assert.All(idleTimes, seconds => Assert.InRange(seconds, 30, 90));
    }
}
