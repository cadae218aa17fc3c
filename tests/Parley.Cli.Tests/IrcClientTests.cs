using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Cli.Tests;

/// <summary>A real IRC client, irssi, in a real terminal, in the same room as a line client (issue 15).</summary>
public sealed class IrcClientTests
{
    private static bool IrssiInstalled { get; } = Environment.GetEnvironmentVariable("PATH")?.Split(':').Any(dir => File.Exists(Path.Combine(dir, "irssi"))) == true;

    [TerminalFact]
    public async Task IrssiJoinsSeesHistoryAndTalksWithALineUser()
    {
        Assert.True(IrssiInstalled, "irssi is not installed (.ci/run installs it)");
        await using var server = await TestServer.StartAsync([ServiceKind.Chat, ServiceKind.Irc], Framing.Line);
        await using var linus = await server.JoinChatAsync("linus");
        await linus.SendLineAsync("/join dev");
        await linus.SendLineAsync("said before irssi came");
        await linus.SendLineAsync("/ping ready");
        await linus.ExpectLineAsync("* pong ready");

        var irc = server.EndPointOf(ServiceKind.Irc);
        // irssi gets a home of its own, so no user's ~/.irssi is read or written.
        var home = Directory.CreateTempSubdirectory("parley-irssi-");
        try
        {
            await TalkAsync(home.FullName, irc.Port, linus);
        }
        finally
        {
            home.Delete(recursive: true);
        }
    }

    private static async Task TalkAsync(string home, int port, LineClient linus)
    {
        await using var terminal = await TmuxTerminal.StartProgramAsync(100, 30, "irssi", $"--home={home}", "--noconnect", "-n", "irene");
        await terminal.WaitForLineAsync(l => l.Contains("Irssi", StringComparison.OrdinalIgnoreCase), "irssi's first screen");
        await terminal.TypeAsync($"/connect 127.0.0.1 {port}");
        await terminal.KeysAsync("Enter");
        await terminal.WaitForLineAsync(l => l.Contains("Welcome to Parley", StringComparison.Ordinal), "the welcome");
        await terminal.TypeAsync("/join #dev");
        await terminal.KeysAsync("Enter");
        await terminal.WaitForLineAsync(l => l.Contains("said before irssi came", StringComparison.Ordinal), "the channel's history");
        await linus.ExpectLineAsync("* irene joined #dev");

        await linus.SendLineAsync("hello irssi");
        await terminal.WaitForLineAsync(l => l.Contains("linus", StringComparison.Ordinal) && l.Contains("hello irssi", StringComparison.Ordinal), "the line user's message");
        await terminal.TypeAsync("hello nc");
        await terminal.KeysAsync("Enter");
        await linus.ExpectLineAsync("<irene> hello nc");
        await terminal.TypeAsync("/me waves");
        await terminal.KeysAsync("Enter");
        await linus.ExpectLineAsync("* irene waves");
        await terminal.TypeAsync("/quit");
        await terminal.KeysAsync("Enter");
        await linus.ExpectLineAsync(l => l.StartsWith("* irene left #dev", StringComparison.Ordinal), "irene leaving");
    }
}
