using System.Net;
using System.Text.RegularExpressions;
using Parley.Testing;

namespace Parley.Cli.Tests;

/// <summary>
/// parley chat comes back by itself after a dropped connection or a server restart and shows every room line
/// once, in order, with no gap (issue 12, item 5). Real processes; the client's stdin and stdout are piped.
/// </summary>
public sealed partial class ResumeTests
{
    [Fact]
    public async Task ACutConnectionIsResumedWithEveryLineOnceInOrder()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0");
        var chat = IPEndPoint.Parse(await serve.ListeningAddressAsync("chat"));
        await using var proxy = new CuttingProxy(chat);
        await using var talker = await LineClient.ConnectAsync(chat);
        await talker.SendLineAsync("/join dev");
        await talker.SendLineAsync("/nick talker");
        await talker.ExpectLineAsync("* talker joined #dev");
        await using var reader = ParleyProcess.Start("chat", proxy.EndPoint.ToString(), "--name", "reader", "--room", "dev");
        await talker.ExpectLineAsync("* reader joined #dev");
        // Once this is shown the client has started (a connection cut while it starts is a failure to start).
        await talker.SendLineAsync("line 1");
        await reader.ExpectLineAsync(l => Said(l) == "line 1", "the first line");

        for (int i = 2; i <= 10; i++)
        {
            await talker.SendLineAsync($"line {i}");
        }

        await reader.ExpectLineAsync(l => Said(l) == "line 10", "the lines before the cut");

        // The cut comes in the middle of a burst: lines in flight to the reader are lost with the connection, and
        // more are said while it is away. The room's replay on entering (its last 20 lines) then overlaps lines the
        // reader has shown, and the history page overlaps lines that also come live.
        for (int i = 11; i <= 20; i++)
        {
            await talker.SendLineAsync($"line {i}");
        }

        proxy.Cut();
        for (int i = 21; i <= 25; i++)
        {
            await talker.SendLineAsync($"line {i}");
        }

        await reader.ExpectLineAsync(l => Said(l) == "line 25", "the last line said while away");
        for (int i = 26; i <= 30; i++)
        {
            await talker.SendLineAsync($"line {i}");
        }

        await reader.ExpectLineAsync(l => Said(l) == "line 30", "the lines said once back");
        reader.StandardInput.Close();
        Assert.Equal(0, await reader.WaitForExitAsync());
        Assert.Equal(Lines(1, 30), Spoken(reader.StandardOutputSeen));
        Assert.True(proxy.Accepted >= 2, "the client connected again");
        Assert.Contains($"reconnected to {proxy.EndPoint} as reader in #dev", reader.StandardError, StringComparison.Ordinal);
        // Its name came back: the room saw it leave and come, never a guest or another name.
        await talker.SendLineAsync("/who");
        await talker.ExpectLineAsync(l => l.StartsWith("* members of #dev:", StringComparison.Ordinal), "who");
        Assert.DoesNotContain(talker.Seen, l => l.Contains("reader2", StringComparison.Ordinal) || l.Contains("guest-", StringComparison.Ordinal) && !l.StartsWith("* you are", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AServerRestartIsResumedWithTheLinesSaidMeanwhileOnce()
    {
        var directory = Directory.CreateTempSubdirectory("parley-resume-");
        try
        {
            string history = Path.Combine(directory.FullName, "history.db");
            var before = ParleyProcess.Start("serve", "--chat", "0", "--history", history);
            string address = await before.ListeningAddressAsync("chat");
            // The restart binds the port the first one was given.
            string port = address[(address.LastIndexOf(':') + 1)..];
            await using var reader = ParleyProcess.Start("chat", address, "--name", "reader", "--room", "ops");
            await using (var talker = await LineClient.ConnectAsync(IPEndPoint.Parse(address)))
            {
                await talker.SendLineAsync("/join ops");
                await talker.SendLineAsync("/nick talker");
                await talker.ExpectLineAsync("* talker joined #ops");
                for (int i = 1; i <= 5; i++)
                {
                    await talker.SendLineAsync($"line {i}");
                }

                await reader.ExpectLineAsync(l => Said(l) == "line 5", "the lines before the restart");
            }

            before.Signal("TERM");
            Assert.Equal(0, await before.WaitForExitAsync());
            await before.DisposeAsync();
            await using var after = ParleyProcess.Start("serve", "--chat", port, "--history", history);
            await after.ListeningAddressAsync("chat");
            await using var again = await LineClient.ConnectAsync(IPEndPoint.Parse(address));
            await again.SendLineAsync("/join ops");
            await again.SendLineAsync("/nick talker");
            await again.ExpectLineAsync("* talker joined #ops");
            for (int i = 6; i <= 10; i++)
            {
                await again.SendLineAsync($"line {i}");
            }

            await reader.ExpectLineAsync(l => Said(l) == "line 10", "the lines said while it was away");
            for (int i = 11; i <= 12; i++)
            {
                await again.SendLineAsync($"line {i}");
            }

            await reader.ExpectLineAsync(l => Said(l) == "line 12", "a line said once it was back");
            reader.StandardInput.Close();
            Assert.Equal(0, await reader.WaitForExitAsync());
            Assert.Equal(Lines(1, 12), Spoken(reader.StandardOutputSeen));
            Assert.Contains($"{address} shut down; reconnecting", reader.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task ALobbyClientThatSawNoLineResumesAfterWhatWasSaidBeforeIt()
    {
        // The lobby's replay reaches a new connection before /format json, without ids: the client learns the
        // room's newest id itself, or it would ask for the room's whole history on resuming.
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--replay", "0");
        var chat = IPEndPoint.Parse(await serve.ListeningAddressAsync("chat"));
        await using var proxy = new CuttingProxy(chat);
        await using var talker = await LineClient.ConnectAsync(chat);
        await talker.SendLineAsync("/nick talker");
        await talker.ExpectLineAsync("* talker joined #lobby");
        await talker.SendLineAsync("said before");
        await talker.SendLineAsync("/ping said");
        await talker.ExpectLineAsync("* pong said");
        await using var reader = ParleyProcess.Start("chat", proxy.EndPoint.ToString(), "--name", "reader");
        await talker.ExpectLineAsync("* reader joined #lobby");
        reader.StandardInput.WriteLine("/ping started");
        await reader.ExpectLineAsync("* pong started");

        proxy.Cut();
        await talker.SendLineAsync("said while away");
        await reader.ExpectLineAsync(l => Said(l) == "said while away", "the line said while away");
        reader.StandardInput.Close();
        Assert.Equal(0, await reader.WaitForExitAsync());
        Assert.Equal(["said while away"], Spoken(reader.StandardOutputSeen));
    }

    [Fact]
    public async Task NoReconnectExitsWithOneLineWhenTheConnectionDrops()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0");
        var chat = IPEndPoint.Parse(await serve.ListeningAddressAsync("chat"));
        await using var proxy = new CuttingProxy(chat);
        await using var watcher = await LineClient.ConnectAsync(chat);
        await watcher.SendLineAsync("/nick watcher");
        await watcher.ExpectLineAsync("* watcher joined #lobby");
        await using var reader = ParleyProcess.Start("chat", proxy.EndPoint.ToString(), "--name", "quitter", "--no-reconnect");
        await watcher.ExpectLineAsync("* quitter joined #lobby");
        reader.StandardInput.WriteLine("/ping started");
        await reader.ExpectLineAsync("* pong started");

        proxy.Cut();
        Assert.Equal(1, await reader.WaitForExitAsync());
        Assert.Equal($"parley: connection to {proxy.EndPoint} lost", reader.StandardError.Trim());
        Assert.Equal(1, proxy.Accepted);
    }

    // What a room line said, live (`<talker> text`) or replayed (`[2026-11-29 19:40:12] <talker> text`).
    private static string? Said(string line) => SpokenLine().Match(line) is { Success: true } m ? m.Groups[1].Value : null;

    private static List<string> Spoken(IEnumerable<string> output) => [.. output.Select(Said).OfType<string>()];

    private static List<string> Lines(int from, int to) => [.. Enumerable.Range(from, to - from + 1).Select(i => $"line {i}")];

    [GeneratedRegex(@"^(?:\[[0-9: -]+\] )?<talker> (.*)$")]
    private static partial Regex SpokenLine();
}
