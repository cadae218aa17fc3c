using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Cli.Tests;

/// <summary>Real IRC clients, irssi and WeeChat, in a real terminal, in the same room as a line client (issue 15).</summary>
public sealed class IrcClientTests
{
    private static bool IrssiInstalled { get; } = Installed("irssi");

    private static bool WeeChatInstalled { get; } = Installed("weechat");

    private static bool Installed(string program) =>
        Environment.GetEnvironmentVariable("PATH")?.Split(':').Any(dir => File.Exists(Path.Combine(dir, program))) == true;

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

    [TerminalFact]
    public async Task WeeChatJoinsSeesHistoryAndTalksWithALineUser()
    {
        Assert.True(WeeChatInstalled, "weechat is not installed (.ci/run installs weechat-curses)");
        await using var server = await TestServer.StartAsync([ServiceKind.Chat, ServiceKind.Irc], Framing.Line);
        await using var linus = await server.JoinChatAsync("linus");
        await linus.SendLineAsync("/join dev");
        await linus.SendLineAsync("said before weechat came");
        await linus.SendLineAsync("/ping ready");
        await linus.ExpectLineAsync("* pong ready");

        // WeeChat gets a home of its own (--dir), so no user's ~/.config/weechat is read or written.
        var home = Directory.CreateTempSubdirectory("parley-weechat-");
        try
        {
            await TalkWithWeeChatAsync(home.FullName, server.EndPointOf(ServiceKind.Irc).Port, linus);
        }
        catch
        {
            // The failure is what the test reports: a WeeChat killed while saving may still be writing its home.
            try
            {
                home.Delete(recursive: true);
            }
            catch (IOException)
            {
            }

            throw;
        }

        home.Delete(recursive: true);
    }

    private static async Task TalkWithWeeChatAsync(string home, int port, LineClient linus)
    {
        await using var terminal = await TmuxTerminal.StartProgramAsync(
            100, 30, "weechat", "--dir", home, "--run-command", $"/set irc.server_default.nicks wendy;/server add parley 127.0.0.1/{port};/connect parley");
        await terminal.WaitForLineAsync(l => l.Contains("Welcome to Parley", StringComparison.Ordinal), "the welcome");
        await terminal.TypeAsync("/join #dev");
        await terminal.KeysAsync("Enter");
        await terminal.WaitForLineAsync(l => l.Contains("said before weechat came", StringComparison.Ordinal), "the channel's history");
        await linus.ExpectLineAsync("* wendy joined #dev");

        await linus.SendLineAsync("hello weechat");
        await terminal.WaitForLineAsync(l => l.Contains("linus", StringComparison.Ordinal) && l.Contains("hello weechat", StringComparison.Ordinal), "the line user's message");
        await terminal.TypeAsync("hello nc");
        await terminal.KeysAsync("Enter");
        await linus.ExpectLineAsync("<wendy> hello nc");
        await terminal.TypeAsync("/me waves");
        await terminal.KeysAsync("Enter");
        await linus.ExpectLineAsync("* wendy waves");
        await terminal.TypeAsync("/quit");
        await terminal.KeysAsync("Enter");
        await linus.ExpectLineAsync(l => l.StartsWith("* wendy left #dev", StringComparison.Ordinal), "wendy leaving");

        // WeeChat saves its settings as it quits: its home is removed only once it has.
        Assert.Equal(0, await terminal.WaitForExitAsync());
    }
}
