using System.Text.Json;
using Parley.Testing;

namespace Parley.Cli.Tests;

/// <summary><c>parley bench</c> run as a user runs it, against the real server: its accounting must add up.</summary>
public class BenchCliTests
{
    [Fact]
    public async Task FanoutAccountsForEveryLineEachMemberShouldHaveReceived()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--rate-limit", "0");
        string chat = await serve.ListeningAddressAsync("chat");

        // At a rate rather than flat out: CI runs the other test assemblies alongside, and a saturated machine
        // would make their timing (a chat name's 1 s grace) the thing under test.
        var report = await RunBenchAsync("fanout", chat, "-n", "5", "-p", "2", "-r", "500", "-t", "1");

        Assert.Equal("fanout", report.GetProperty("mode").GetString());
        AssertEveryOtherMemberGotEveryLine(report, members: 5);
    }

    [Fact]
    public async Task FanoutOverIrcAccountsForEveryLine()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--irc", "0", "--rate-limit", "0");
        string irc = await serve.ListeningAddressAsync("irc");

        var report = await RunBenchAsync("fanout", irc, "--protocol", "irc", "-n", "5", "-p", "2", "-r", "500", "-t", "1");

        Assert.Equal("irc", report.GetProperty("protocol").GetString());
        AssertEveryOtherMemberGotEveryLine(report, members: 5);
    }

    [Fact]
    public async Task FanoutOverTheWebSocketAccountsForEveryLine()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--web", "0", "--rate-limit", "0");
        string web = await serve.ListeningAddressAsync("web");

        // Flat out, the end of the run falls in the middle of the publishers' sends: every line counted as sent must
        // still reach every other member (once a cancelled send took its publisher's member out with it).
        var report = await RunBenchAsync("fanout", web, "--protocol", "ws", "-n", "5", "-p", "2", "-t", "1");

        Assert.Equal("ws", report.GetProperty("protocol").GetString());
        AssertEveryOtherMemberGotEveryLine(report, members: 5);
    }

    // The fan-out's accounting: something was sent, and every line reached every member but its sender, timed.
    private static void AssertEveryOtherMemberGotEveryLine(JsonElement report, int members)
    {
        long sent = report.GetProperty("sent").GetInt64();
        Assert.True(sent > 0, "the publishers sent nothing");
        Assert.Equal(sent * (members - 1), report.GetProperty("expected").GetInt64());
        Assert.Equal(sent * (members - 1), report.GetProperty("delivered").GetInt64());
        Assert.Equal(0, report.GetProperty("lost").GetInt64());
        Assert.True(report.GetProperty("latency_p50_us").GetInt64() > 0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FanoutAtARateSendsAboutThatMany(bool stagger)
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--rate-limit", "0");
        string chat = await serve.ListeningAddressAsync("chat");

        string[] args = ["-n", "3", "-p", "2", "-r", "50", "-t", "2"];
        var report = await RunBenchAsync("fanout", chat, stagger ? [.. args, "--stagger"] : args);

        // 2 publishers at 50 lines/s for 2 s, spread out or not: never more than the rate allows (flat out would be
        // thousands), and not starved.
        Assert.InRange(report.GetProperty("sent").GetInt64(), 100, 220);
        Assert.Equal(0, report.GetProperty("lost").GetInt64());
        Assert.Equal(stagger, report.GetProperty("staggered").GetBoolean());
    }

    [Fact]
    public async Task EchoCountsEveryReply()
    {
        await using var serve = ParleyProcess.Start("serve", "--echo", "0");
        string echo = await serve.ListeningAddressAsync("echo");

        var report = await RunBenchAsync("echo", echo, "-c", "1", "-k", "1", "-s", "32", "-t", "1");

        Assert.True(report.GetProperty("messages_per_s").GetDouble() > 0);
        Assert.Equal(0, report.GetProperty("unanswered").GetInt64());
        Assert.True(report.GetProperty("latency_p99_us").GetInt64() > 0);
    }

    [Fact]
    public async Task HoldReportsTheConnectionsKeptAndTheServersMemoryForThem()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0");
        string chat = await serve.ListeningAddressAsync("chat");

        var report = await RunBenchAsync("hold", chat, "-n", "50", "--server-pid", serve.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(50, report.GetProperty("kept").GetInt32());
        Assert.Equal("lobby", report.GetProperty("rooms").GetString());
        Assert.True(report.GetProperty("connect_ms").GetInt64() >= 0);
        Assert.True(report.GetProperty("server_rss_after_kib").GetInt64() > 0);
        Assert.True(report.TryGetProperty("server_bytes_per_connection", out _));
    }

    [Fact]
    public async Task HoldOverTheWebSocketCountsOnlyTheConnectionsTheServerKept()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--web", "0", "--max-connections", "10");
        string web = await serve.ListeningAddressAsync("web");

        // Past the limit the server answers the upgrade, then sends an error and a close frame: not kept.
        var report = await RunBenchAsync("hold", web, "--protocol", "ws", "-n", "15", "--step", "15");

        Assert.Equal("ws", report.GetProperty("protocol").GetString());
        Assert.Equal(15, report.GetProperty("opened").GetInt32());
        Assert.Equal(10, report.GetProperty("kept").GetInt32());
    }

    [Theory]
    [InlineData(new string[0], "#lobby (21)")]
    [InlineData(new[] { "--own-rooms" }, "#hold19 (1)")]
    public async Task HoldLeavesChatMembersInTheLobbyUnlessAskedForRoomsOfTheirOwn(string[] flags, string seen)
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0");
        string chat = await serve.ListeningAddressAsync("chat");
        await using var bench = ParleyProcess.Start(["bench", "hold", chat, "-n", "20", "--keep", "60", "--json", .. flags]);
        await using var looker = await LineClient.ConnectAsync(System.Net.IPEndPoint.Parse(chat));

        // Ask until all 20 are seated where the mode puts them; each question waits for its answer, and the
        // whole wait is bounded.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string rooms;
        do
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"never saw {seen}; seen:\n{string.Join('\n', looker.Seen)}");
            await looker.SendLineAsync("/rooms");
            rooms = await looker.ExpectLineAsync(line => line.StartsWith("* rooms:", StringComparison.Ordinal), "* rooms:");
        }
        while (!rooms.Contains(seen, StringComparison.Ordinal));

        // Seen: Ctrl-C ends the hold (with no report when it comes before the measurement, as here).
        bench.Signal("INT");
        Assert.Equal(0, await bench.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Theory]
    [InlineData("--members must be between 2 and 19000", "fanout", "127.0.0.1:9", "-n", "1")]
    [InlineData("--seconds must be more than 0 and at most 600 seconds", "echo", "127.0.0.1:9", "-t", "0")]
    [InlineData("'nowhere' is not HOST:PORT", "echo", "nowhere")]
    [InlineData("--stagger needs --rate: flat out there is no interval to spread lines over", "fanout", "127.0.0.1:9", "--stagger")]
    public async Task AUsageErrorExitsWithTwoAndOneLine(string message, params string[] args)
    {
        await using var bench = ParleyProcess.Start(["bench", .. args]);
        Assert.Equal(2, await bench.WaitForExitAsync());
        Assert.Equal($"parley: {message}", bench.StandardError.Trim());
    }

    [Fact]
    public async Task FanoutGivesUpEarlyOnAServerTooSlowToSeatTheMembers()
    {
        // A listener that never accepts: past its backlog, connects wait for SYN retransmits.
        using var stalled = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        stalled.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        stalled.Listen(1);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var report = await RunBenchAsync("fanout", stalled.LocalEndPoint!.ToString()!, "--protocol", "line", "-n", "50", "-t", "1", "--setup-limit", "120");

        Assert.StartsWith("given up after", report.GetProperty("error").GetString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}, not given up early");
    }

    [Theory]
    [InlineData("echo", "-t", "1")]
    [InlineData("fanout", "-n", "2", "-t", "1")]
    [InlineData("hold", "-n", "2")]
    public async Task NothingListeningIsOneLineAndExitCodeTwo(string mode, params string[] args)
    {
        int port = Loopback.FreePort();
        await using var bench = ParleyProcess.Start(["bench", mode, $"127.0.0.1:{port}", .. args]);
        Assert.Equal(2, await bench.WaitForExitAsync());
        Assert.Equal($"parley: cannot connect to 127.0.0.1:{port}: connection refused", bench.StandardError.Trim());
    }

    private static async Task<JsonElement> RunBenchAsync(string mode, string target, params string[] args)
    {
        await using var bench = ParleyProcess.Start(["bench", mode, target, .. args, "--json"]);
        var output = await bench.ReadToEndAsync();
        Assert.Equal(0, await bench.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        string json = Assert.Single(output);
        return JsonDocument.Parse(json).RootElement.Clone();
    }
}
