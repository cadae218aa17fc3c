using System.Net;
using Parley.Testing;

namespace Parley.Cli.Tests;

/// <summary>One chat server for a class of tests; each test uses names of its own.</summary>
public sealed class ChatServerFixture : IAsyncLifetime
{
    private ParleyProcess? _serve;

    public string Address { get; private set; } = string.Empty;

    public IPEndPoint EndPoint => IPEndPoint.Parse(Address);

    public async Task InitializeAsync()
    {
        _serve = ParleyProcess.Start("serve", "--chat", "0", "--oper-password", "sesame", "--rate-limit", "0");
        Address = await _serve.ListeningAddressAsync("chat");
    }

    public async Task DisposeAsync()
    {
        if (_serve is not null)
        {
            await _serve.DisposeAsync();
        }
    }

    /// <summary>A plain line client named <paramref name="name"/>, in #lobby or <paramref name="room"/>.</summary>
    public async Task<LineClient> JoinAsync(string name, string? room = null)
    {
        var client = await LineClient.ConnectAsync(EndPoint);
        await client.SendLineAsync($"/nick {name}");
        await client.ExpectLineAsync($"* {name} joined #lobby");
        if (room is not null)
        {
            await client.SendLineAsync($"/join {room}");
            await client.ExpectLineAsync($"* {name} joined #{room}");
        }

        return client;
    }
}

/// <summary>
/// <c>parley chat</c> at a terminal, driven through tmux as a user types (issue 16). Each test fails on the client
/// before that issue: the line editor cleared one row only and knew only Backspace, Ctrl-U, Enter, Ctrl-C and Ctrl-D.
/// </summary>
public sealed class ChatTerminalTests(ChatServerFixture server) : IClassFixture<ChatServerFixture>
{
    // Wide enough that no line the tests look for wraps, except where wrapping is the point.
    private const int Columns = 100;

    [TerminalFact]
    public async Task ALongLineWrapsAndIncomingMessagesLeaveNoCopiesOfIt()
    {
        await using var bob = await server.JoinAsync("wrapbob", "wrap");
        await using var terminal = await StartChatAsync(40, "wrapalice", "--room", "wrap");
        await ExpectArrivalAsync(bob, "wrapalice");

        // 70 characters behind a 8-column prompt: three rows at 40 columns.
        string typed = string.Concat(Enumerable.Repeat("abcdefghi-", 7));
        await terminal.TypeAsync(typed);
        await terminal.WaitForScreenAsync(s => string.Concat(s.TakeLast(2)).Contains("abcdefghi-abcdefghi-", StringComparison.Ordinal), "the typed text");
        for (int i = 0; i < 3; i++)
        {
            await bob.SendLineAsync($"message {i}");
        }

        await terminal.WaitForLineAsync(l => l.EndsWith("<wrapbob> message 2", StringComparison.Ordinal), "the last message");
        // Backspacing across a row boundary redraws every row too.
        for (int i = 0; i < 40; i++)
        {
            await terminal.KeysAsync("BSpace");
        }

        var all = await terminal.WaitForScreenAsync(s => s[^1] == "[#wrap] abcdefghi-abcdefghi-abcdefghi-", "the shortened line", scrollback: true);
        // The messages are above the input line, each once, and nothing is left of the longer line.
        Assert.Equal(3, all.Count(l => l.Contains("<wrapbob> message", StringComparison.Ordinal)));
        Assert.Equal(1, all.Count(l => l.Contains("[#wrap] ", StringComparison.Ordinal)));
        Assert.DoesNotContain(all, l => l.StartsWith("abcdefghi-", StringComparison.Ordinal) || l.StartsWith("i-abc", StringComparison.Ordinal));
        Assert.Equal(["<wrapbob> message 0", "<wrapbob> message 1", "<wrapbob> message 2"], all.Where(l => l.Contains("<wrapbob>", StringComparison.Ordinal)).Select(l => l[6..]));
    }

    [TerminalFact]
    public async Task CursorKeysWordKeysAndDeleteEditAnywhereInTheLine()
    {
        await using var bob = await server.JoinAsync("keysbob", "keys");
        await using var terminal = await StartChatAsync("keysalice", "--room", "keys");
        await ExpectArrivalAsync(bob, "keysalice");

        await terminal.TypeAsync("world peace");
        await terminal.KeysAsync("Home");
        await terminal.TypeAsync("hello ");
        await terminal.KeysAsync("End", "C-w");
        await terminal.TypeAsync("news");
        await terminal.KeysAsync("C-a", "Right", "Right", "Delete", "Delete", "Delete");
        await terminal.TypeAsync("y");
        await terminal.WaitForInputAsync("[#keys] hey world news");
        await terminal.KeysAsync("Enter");
        await bob.ExpectLineAsync("<keysalice> hey world news");

        // Ctrl-K cuts from the cursor, Ctrl-U up to it; Left/Right move by character, Ctrl-E to the end.
        await terminal.TypeAsync("one two three");
        await terminal.KeysAsync("C-a", "M-f", "C-k");
        await terminal.TypeAsync(" 2");
        await terminal.KeysAsync("Left", "Left", "C-u", "C-e");
        await terminal.TypeAsync("!");
        await terminal.WaitForInputAsync("[#keys]  2!");
        await terminal.KeysAsync("Enter");
        await bob.ExpectLineAsync("<keysalice>  2!");
    }

    [TerminalFact]
    public async Task UpRecallsSentLinesAndTabCompletesNamesRoomsAndCommands()
    {
        await using var bob = await server.JoinAsync("tabbob", "tabs");
        await using var terminal = await StartChatAsync("tabalice", "--room", "tabs");
        await ExpectArrivalAsync(bob, "tabalice");
        await terminal.WaitForLineAsync(l => l.EndsWith("* members of #tabs: tabbob, tabalice", StringComparison.Ordinal), "the members");

        await terminal.TypeAsync("tab");
        await terminal.KeysAsync("Tab");
        await terminal.TypeAsync("first");
        await terminal.KeysAsync("Enter");
        await bob.ExpectLineAsync("<tabalice> tabbob: first");

        await terminal.TypeAsync("second");
        await terminal.KeysAsync("Enter");
        await bob.ExpectLineAsync("<tabalice> second");
        await terminal.KeysAsync("Up", "Up");
        await terminal.WaitForInputAsync("[#tabs] tabbob: first");
        await terminal.KeysAsync("Down");
        await terminal.WaitForInputAsync("[#tabs] second");
        await terminal.KeysAsync("C-u");

        await terminal.TypeAsync("/ro");
        await terminal.KeysAsync("Tab");
        await terminal.WaitForInputAsync("[#tabs] /rooms");
        await terminal.KeysAsync("Enter");
        await terminal.WaitForLineAsync(l => l.Contains("* rooms: ", StringComparison.Ordinal), "the rooms");
        await terminal.TypeAsync("/join #ta");
        await terminal.KeysAsync("Tab");
        await terminal.WaitForInputAsync("[#tabs] /join #tabs");
    }

    [TerminalFact]
    public async Task WideCharactersEmojiAndCombiningMarksAreEditedWhole()
    {
        await using var bob = await server.JoinAsync("widebob", "wide");
        await using var terminal = await StartChatAsync("widealice", "--room", "wide");
        await ExpectArrivalAsync(bob, "widealice");

        await terminal.TypeAsync("张康😀e\u0301x");
        await terminal.WaitForInputAsync("[#wide] 张康😀e\u0301x");
        // Left over x, then over é (two code points), Backspace removes the whole emoji (a surrogate pair).
        await terminal.KeysAsync("Left", "Left", "BSpace");
        await terminal.TypeAsync("!");
        await terminal.WaitForInputAsync("[#wide] 张康!e\u0301x");
        await terminal.KeysAsync("Enter");
        await bob.ExpectLineAsync("<widealice> 张康!e\u0301x");
    }

    [TerminalFact]
    public async Task AJoinedEmojiSequenceTakesTheColumnsTheTerminalDrawsIt()
    {
        await using var bob = await server.JoinAsync("zwjbob", "zwj");
        await using var terminal = await StartChatAsync("zwjalice", "--room", "zwj");
        await ExpectArrivalAsync(bob, "zwjalice");

        const string family = "\U0001F468\u200D\U0001F469\u200D\U0001F467";
        await terminal.TypeAsync(family + "x");
        await terminal.WaitForInputAsync("[#zwj] " + family + "x");
        // tmux draws the family as one wide glyph: "[#zwj] " is 7 columns, the family 2, x 1. Had the editor
        // counted three emoji it would have moved the cursor to column 14.
        await terminal.KeysAsync("End");
        Assert.Equal(10, await terminal.CursorColumnAsync());
        // Left over x, then Backspace takes the whole sequence (five code points, eight UTF-16 units).
        await terminal.KeysAsync("Left", "BSpace");
        await terminal.WaitForInputAsync("[#zwj] x");
        Assert.Equal(7, await terminal.CursorColumnAsync());
    }

    [TerminalFact]
    public async Task TheTitleCountsLinesSinceTheLastKeyAndThoseForTheUser()
    {
        await using var bob = await server.JoinAsync("actbob", "act");
        await using var terminal = await StartChatAsync("actalice", "--room", "act");
        await ExpectArrivalAsync(bob, "actalice");
        await terminal.WaitForTitleAsync("parley #act");

        await bob.SendLineAsync("anyone here?");
        await terminal.WaitForTitleAsync("parley #act (1 new)");
        await bob.SendLineAsync("ACTALICE: are you?");
        await bob.SendLineAsync("/msg actalice psst");
        await bob.SendLineAsync("the actalicecat is not her");
        await terminal.WaitForTitleAsync("parley #act (4 new, 2 for you)");

        // A key means the user is back: the count starts again.
        await terminal.TypeAsync("x");
        await terminal.WaitForTitleAsync("parley #act");
    }

    [TerminalFact]
    public async Task AResizedTerminalShowsTheInputLineOnce()
    {
        await using var bob = await server.JoinAsync("resizebob", "resize");
        await using var terminal = await StartChatAsync(40, "resizer", "--room", "resize");
        await ExpectArrivalAsync(bob, "resizer");
        await terminal.TypeAsync(new string('z', 60) + "END");
        await terminal.WaitForScreenAsync(s => s[^1].EndsWith("END", StringComparison.Ordinal), "the typed text");
        await terminal.ResizeAsync(25, 12);
        // Redrawn by the client (not just re-flowed by the terminal): the prompt's row is full at the new width.
        await terminal.WaitForScreenAsync(s => s.Contains("[#resize] " + new string('z', 15)) && s[^1].EndsWith("END", StringComparison.Ordinal), "the text redrawn at 25 columns");
        // A line arriving after the resize clears every row of the input line, at the new width.
        await bob.SendLineAsync("after");
        var screen = await terminal.WaitForScreenAsync(s => s.Any(l => l.EndsWith("<resizebob> after", StringComparison.Ordinal)) && s[^1].EndsWith("END", StringComparison.Ordinal), "the line that arrived");
        Assert.Equal(1, screen.Count(l => l.StartsWith("[#resize]", StringComparison.Ordinal)));
        Assert.Equal(1, screen.Count(l => l.EndsWith("END", StringComparison.Ordinal)));
        Assert.Equal(60, screen.SkipWhile(l => !l.StartsWith("[#resize]", StringComparison.Ordinal)).Sum(l => l.Replace("[#resize]", "", StringComparison.Ordinal).Count(c => c == 'z')));
    }

    [TerminalFact]
    public async Task LinesCarryTheTimeAndMsgIsShownToItsSender()
    {
        await using var bob = await server.JoinAsync("msgbob");
        await using var terminal = await StartChatAsync("msgalice");
        await terminal.TypeAsync("/msg msgbob psst");
        await terminal.KeysAsync("Enter");
        await bob.ExpectLineAsync("*msgalice* psst");
        await terminal.WaitForLineAsync(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d\d:\d\d -> \*msgbob\* psst$"), "the private message, with its time");
    }

    [TerminalFact]
    public async Task ALineOverTheLimitIsNotSentAndStaysInTheInputLine()
    {
        await using var bob = await server.JoinAsync("longbob", "long");
        await using var terminal = await StartChatAsync("longalice", "--room", "long");
        await ExpectArrivalAsync(bob, "longalice");
        await terminal.TypeAsync(new string('y', 4100));
        await terminal.KeysAsync("Enter");
        // The input line (41 rows) fills the screen below the message: look in the scrollback too.
        await terminal.WaitForScreenAsync(s => s.Any(l => l.Contains("! not sent: the line is 4,100 bytes", StringComparison.Ordinal)), "why it was not sent", scrollback: true);
        // Still there to shorten: 4,000 fewer and it goes.
        await terminal.KeysAsync("C-a");
        await terminal.TypeAsync("short:");
        await terminal.KeysAsync("C-k", "Enter");
        await bob.ExpectLineAsync("<longalice> short:");
        Assert.DoesNotContain(bob.Seen, l => l.Contains("yyyy", StringComparison.Ordinal));
    }

    [TerminalFact]
    public async Task FormatTextExitAsAMessageAndQuitWork()
    {
        await using var bob = await server.JoinAsync("fmtbob", "fmt");
        await using var terminal = await StartChatAsync("fmtalice", "--room", "fmt");
        await ExpectArrivalAsync(bob, "fmtalice");
        await terminal.TypeAsync("/format text");
        await terminal.KeysAsync("Enter");
        await terminal.WaitForLineAsync(l => l.Contains("/format is for nc", StringComparison.Ordinal), "the client's answer");
        await bob.SendLineAsync("still readable");
        await terminal.WaitForLineAsync(l => l.EndsWith(" <fmtbob> still readable", StringComparison.Ordinal) && !l.Contains("* <", StringComparison.Ordinal), "bob's line as a message");

        // The word exit is a message here: the client stays.
        await terminal.TypeAsync("exit");
        await terminal.KeysAsync("Enter");
        await bob.ExpectLineAsync(l => l == "<fmtalice> exit", "exit as a message, with nothing added");
        await terminal.TypeAsync("/quit bye");
        await terminal.KeysAsync("Enter");
        await bob.ExpectLineAsync("* fmtalice left #fmt (bye)");
        Assert.Equal(0, await terminal.WaitForExitAsync());
        Assert.DoesNotContain(await terminal.ScreenAsync(), l => l.Contains("lost", StringComparison.Ordinal));
    }

    [TerminalFact]
    public async Task CtrlCAndCtrlDLeaveWithExitCodeZero()
    {
        await using (var terminal = await StartChatAsync("ctrlc"))
        {
            await terminal.WaitForInputAsync("[#lobby]");
            await terminal.KeysAsync("C-c");
            Assert.Equal(0, await terminal.WaitForExitAsync());
            Assert.DoesNotContain(await terminal.ScreenAsync(), l => l.Contains("lost", StringComparison.Ordinal));
        }

        await using (var terminal = await StartChatAsync("ctrld"))
        {
            await terminal.WaitForInputAsync("[#lobby]");
            await terminal.KeysAsync("C-d");
            Assert.Equal(0, await terminal.WaitForExitAsync());
        }
    }

    [TerminalFact]
    public async Task ATakenNameIsOfferedWithADigit()
    {
        await using var holder = await server.JoinAsync("takenname");
        await using var terminal = await StartChatAsync("TakenName");
        await terminal.WaitForLineAsync(l => l.Contains("the name TakenName is taken, so you are TakenName2", StringComparison.Ordinal), "the offer");
        await terminal.TypeAsync("/who");
        await terminal.KeysAsync("Enter");
        await terminal.WaitForLineAsync(l => l.Contains("TakenName2", StringComparison.Ordinal) && l.Contains("members of", StringComparison.Ordinal), "the new name in /who");
    }

    [TerminalFact]
    public async Task AKickIsSaidAsSuchWithExitCodeOne()
    {
        await using var op = await server.JoinAsync("kickop");
        await op.SendLineAsync("/oper sesame");
        await op.ExpectLineAsync("* you are now an operator");
        await using var terminal = await StartChatAsync("kicked");
        await terminal.WaitForInputAsync("[#lobby]");
        await op.SendLineAsync("/kick kicked spam");
        Assert.Equal(1, await terminal.WaitForExitAsync());
        var screen = await terminal.ScreenAsync();
        Assert.Contains(screen, l => l == $"parley: disconnected by {server.Address}: kicked by kickop: spam");
        Assert.DoesNotContain(screen, l => l.Contains("lost", StringComparison.Ordinal));
    }

    // A client bound for a room joins it before it takes its name; servers differ in whether that shows as a join
    // under the name or a guest's rename.
    private static Task<string> ExpectArrivalAsync(LineClient watcher, string name) =>
        watcher.ExpectLineAsync(l => l.EndsWith($" {name} joined #{l.Split('#')[^1]}", StringComparison.Ordinal) || l.EndsWith($" is now known as {name}", StringComparison.Ordinal), $"{name} arriving");

    // Returns once the input line is drawn: keys typed before the client reads them would be echoed by the terminal.
    private Task<TmuxTerminal> StartChatAsync(string name, params string[] more) => StartChatAsync(Columns, name, more);

    private async Task<TmuxTerminal> StartChatAsync(int columns, string name, params string[] more)
    {
        var terminal = await TmuxTerminal.StartAsync(columns, 20, ["chat", server.Address, "--name", name, .. more]);
        await terminal.WaitForScreenAsync(s => s.Length > 0 && s[^1].StartsWith("[#", StringComparison.Ordinal), "the input line");
        return terminal;
    }
}
