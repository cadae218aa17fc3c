using System.Net;

namespace Parley.Server.Connections;

/// <summary>Writes endpoints as users type them: <c>127.0.0.1:9999</c>, <c>[::1]:9999</c>.</summary>
public static class EndpointText
{
    public static string Of(EndPoint? endPoint) => endPoint switch
    {
        IPEndPoint ip => Of(ip.Address, ip.Port),
        null => "unknown",
        _ => endPoint.ToString() ?? "unknown",
    };

    public static string Of(IPAddress address, int port)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? $"[{address}]:{port}"
            : $"{address}:{port}";
    }
}
