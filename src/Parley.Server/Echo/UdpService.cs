using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Server.Logging;

namespace Parley.Server.Echo;

/// <summary>
/// A UDP service (greet or echo): Kestrel has no UDP, so this hosted service owns one bound socket and loops
/// receive → reply. It is stateless: every datagram is answered on its own, and a bad one costs nothing else.
/// </summary>
internal sealed class UdpService(ServiceKind kind, IPEndPoint requested, int maxDatagramBytes, ILogger<UdpService> logger) : BackgroundService
{
    private static readonly byte[] HelloPrefix = "Hello, "u8.ToArray();
    private Socket? _socket;

    public ServiceKind Kind { get; } = kind;

    public IPEndPoint? LocalEndPoint { get; private set; }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Bind before the host reports started, so a taken port fails the start and the "listening" line is true.
        var socket = new Socket(requested.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (requested.Address.Equals(IPAddress.IPv6Any))
        {
            socket.DualMode = true;
        }

        try
        {
            socket.Bind(requested);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        _socket = socket;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _socket?.Dispose();
        await base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var socket = _socket!;
        var buffer = new byte[maxDatagramBytes];
        var reply = new byte[maxDatagramBytes + HelloPrefix.Length + 1];
        EndPoint any = socket.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, stoppingToken);
                if (logger.IsEnabled(LogLevel.Debug))
                {
                    UdpLog.Received(logger, EndpointText.Of(received.RemoteEndPoint));
                }

                int length = Kind == ServiceKind.UdpGreet ? Greet(buffer.AsSpan(0, received.ReceivedBytes), reply) : received.ReceivedBytes;
                var payload = Kind == ServiceKind.UdpGreet ? reply.AsMemory(0, length) : buffer.AsMemory(0, length);
                await socket.SendToAsync(payload, SocketFlags.None, received.RemoteEndPoint, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // An ICMP error for one peer (port unreachable, message too long) must not stop the service for the rest.
                UdpLog.Failed(logger, ServiceNames.Of(Kind), ex.Message);
            }
        }
    }

    private static int Greet(ReadOnlySpan<byte> name, Span<byte> reply)
    {
        HelloPrefix.CopyTo(reply);
        name.CopyTo(reply[HelloPrefix.Length..]);
        int length = HelloPrefix.Length + name.Length;
        reply[length] = (byte)'!';
        return length + 1;
    }
}
