using System.Net;
using Parley.Testing;

namespace Parley.Cli.Tests;

/// <summary><c>parley listen</c> at a terminal, driven through tmux (issue 16, item 11).</summary>
public sealed class ListenTerminalTests
{
    [TerminalFact]
    public async Task ThePeersLinesGoAboveWhatIsTypedAndNothingTypedIsLost()
    {
        await using var terminal = await TmuxTerminal.StartAsync(80, 20, "listen", "0");
        var screen = await terminal.WaitForLineAsync(l => l.StartsWith("parley: listening on ", StringComparison.Ordinal), "where it listens");
        var address = IPEndPoint.Parse(screen.First(l => l.StartsWith("parley: listening on ", StringComparison.Ordinal))["parley: listening on ".Length..]);
        await terminal.WaitForInputAsync(">");

        // Nobody is connected: the line stays, with a word saying why.
        await terminal.TypeAsync("early");
        await terminal.KeysAsync("Enter");
        await terminal.WaitForLineAsync(l => l.StartsWith("! nobody is connected", StringComparison.Ordinal), "why the line was not sent");
        await terminal.WaitForInputAsync("> early");

        await using (var peer = await LineClient.ConnectAsync(address))
        {
            await terminal.WaitForLineAsync(l => l.StartsWith("* connection from ", StringComparison.Ordinal), "the peer");
            await terminal.KeysAsync("Enter");
            Assert.Equal("early", await peer.ReadLineAsync());

            await terminal.TypeAsync("half");
            await terminal.WaitForInputAsync("> half");
            await peer.SendLineAsync("second from nc");
            var withLine = await terminal.WaitForLineAsync(l => l == "second from nc", "the peer's line on a line of its own");
            Assert.Equal("> half", withLine[^1]);
            await terminal.KeysAsync("Enter");
            Assert.Equal("half", await peer.ReadLineAsync());
        }

        await terminal.WaitForLineAsync(l => l.EndsWith(" left", StringComparison.Ordinal), "the peer leaving");
        // Ctrl-D with nobody connected leaves.
        await terminal.KeysAsync("C-d");
        Assert.Equal(0, await terminal.WaitForExitAsync());
    }
}
