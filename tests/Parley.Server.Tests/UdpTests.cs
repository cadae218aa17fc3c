using System.Net;
using System.Net.Sockets;
using System.Text;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public class UdpTests
{
    [Fact]
    public async Task UdpGreetAnswersEachDatagramWithHello()
    {
        await using var server = await TestServer.StartAsync(ServiceKind.UdpGreet);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var target = server.EndPointOf(ServiceKind.UdpGreet);
        foreach (string name in new[] { "zhangkang", "jack", "tom" })
        {
            Assert.Equal($"Hello, {name}!", await ExchangeAsync(client, target, Encoding.UTF8.GetBytes(name)));
        }
    }

    [Fact]
    public async Task UdpEchoSendsEachDatagramBack()
    {
        await using var server = await TestServer.StartAsync(ServiceKind.UdpEcho);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Assert.Equal("ping 张康", await ExchangeAsync(client, server.EndPointOf(ServiceKind.UdpEcho), Encoding.UTF8.GetBytes("ping 张康")));
    }

    [Fact]
    public async Task UdpWorksOverIpv6()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.BindAddress = IPAddress.IPv6Loopback;
            o.Services.Add(new ServiceBinding(ServiceKind.UdpGreet, 0));
        });
        using var client = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
        Assert.Equal("Hello, v6!", await ExchangeAsync(client, server.EndPointOf(ServiceKind.UdpGreet), "v6"u8.ToArray()));
        Assert.Equal("udp-greet listening on [::1]:" + server.EndPointOf(ServiceKind.UdpGreet).Port, server.Server.Endpoints[0].ToString());
    }

    private static async Task<string> ExchangeAsync(Socket client, IPEndPoint target, byte[] datagram)
    {
        // UDP may drop a datagram even on loopback; retry a few times rather than hang or flake.
        var buffer = new byte[2048];
        for (int attempt = 0; attempt < 5; attempt++)
        {
            await client.SendToAsync(datagram, SocketFlags.None, target);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                var received = await client.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0), timeout.Token);
                return Encoding.UTF8.GetString(buffer, 0, received.ReceivedBytes);
            }
            catch (OperationCanceledException)
            {
                // Try again.
            }
        }

        throw new TimeoutException("no UDP answer after 5 tries");
    }
}
