using System.Net;
using System.Text;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>A raw IRC client for the IRC front end's tests: registration with capabilities, and lines sent CRLF.</summary>
internal static class IrcTestClient
{
    /// <summary>Connects, registers as <paramref name="nick"/> with <paramref name="caps"/>, and waits for the end of the MOTD.</summary>
    public static async Task<LineClient> RegisterAsync(IPEndPoint irc, string serverName, string nick, string caps = "")
    {
        var client = await LineClient.ConnectAsync(irc);
        await SendAsync(client, "CAP LS 302", $"NICK {nick}", $"USER {nick} 0 * :{nick} the tester");
        if (caps.Length > 0)
        {
            await SendAsync(client, $"CAP REQ :{caps}");
            await client.ExpectLineAsync(line => line.StartsWith($":{serverName} CAP {nick} ACK ", StringComparison.Ordinal) && line.EndsWith(caps, StringComparison.Ordinal), "CAP ACK");
        }

        await SendAsync(client, "CAP END");
        await client.ExpectLineAsync(line => line.StartsWith($":{serverName} 376 {nick} ", StringComparison.Ordinal), "the end of the MOTD");
        return client;
    }

    public static Task SendAsync(LineClient client, params string[] lines) =>
        client.SendAsync(Encoding.UTF8.GetBytes(string.Concat(lines.Select(line => line + "\r\n"))));
}
