using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// The IRC server's name, channel operators and channel modes, with raw IRC clients and line clients over loopback
/// against the real server.
/// </summary>
public class IrcChannelTests : IAsyncLifetime
{
    private const string Name = "My.Little.Server";

    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(
        [ServiceKind.Chat, ServiceKind.Irc],
        Framing.Line,
        o =>
        {
            o.OperatorPassword = "opsecret";
            o.IrcServerName = Name;
        });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<LineClient> RegisterAsync(string nick, string caps = "") =>
        IrcTestClient.RegisterAsync(_server.EndPointOf(ServiceKind.Irc), Name, nick, caps);

    private static Task SendAsync(LineClient client, params string[] lines) => IrcTestClient.SendAsync(client, lines);

    // The names of a 353 line, after "= #chan " (with a ':' when there are several, or the first starts with one).
    private static async Task<string[]> ExpectNamesAsync(LineClient client, string nick, string channel)
    {
        string start = $":{Name} 353 {nick} = {channel} ";
        string line = await client.ExpectLineAsync(line => line.StartsWith(start, StringComparison.Ordinal), "NAMES");
        return [.. line[start.Length..].TrimStart(':').Split(' ').Order(StringComparer.Ordinal)];
    }

    [Fact]
    public async Task TheServerGoesByItsConfiguredName()
    {
        await using var alice = await LineClient.ConnectAsync(_server.EndPointOf(ServiceKind.Irc));
        await SendAsync(alice, "NICK alice", "USER al 0 * :Alice");
        await alice.ExpectLineAsync(line => line.StartsWith($":{Name} 001 alice :", StringComparison.Ordinal), "001");
        await alice.ExpectLineAsync($":{Name} 004 alice {Name} parley-2 io ntov ov");
        string isupport = await alice.ExpectLineAsync(line => line.StartsWith($":{Name} 005 alice ", StringComparison.Ordinal), "005");
        Assert.Contains(" PREFIX=(ov)@+ ", isupport, StringComparison.Ordinal);
        await SendAsync(alice, "JOIN #dev", "WHO #dev", "WHOIS alice", "PING :hi");
        await alice.ExpectLineAsync($":alice!alice@{Name} JOIN #dev");
        await alice.ExpectLineAsync($":{Name} 352 alice #dev ~al {Name} {Name} alice H@ :0 Alice");
        await alice.ExpectLineAsync($":{Name} 312 alice alice {Name} Parley");
        await alice.ExpectLineAsync($":{Name} PONG {Name} hi");
    }

    [Fact]
    public async Task TheChannelsCreatorIsItsOperatorAndGivesOperatorWithMode()
    {
        await using var alice = await RegisterAsync("alice");
        await SendAsync(alice, "JOIN #ops");
        Assert.Equal(["@alice"], (await ExpectNamesAsync(alice, "alice", "#ops")));
        await using var bob = await RegisterAsync("bob", "multi-prefix");
        await SendAsync(bob, "JOIN #ops");
        Assert.Equal(["@alice", "bob"], (await ExpectNamesAsync(bob, "bob", "#ops")));
        await using var linus = await _server.JoinChatAsync("linus");
        await linus.SendLineAsync("/join ops");
        await linus.ExpectLineAsync("* linus joined #ops");

        // +t by default: only channel operators set the topic, from IRC or the line protocol.
        await SendAsync(bob, "MODE #ops", "TOPIC #ops :mine now", "MODE #ops +o bob");
        await bob.ExpectLineAsync($":{Name} 324 bob #ops +nt");
        await bob.ExpectLineAsync($":{Name} 482 bob #ops :You're not channel operator");
        await bob.ExpectLineAsync($":{Name} 482 bob #ops :You're not channel operator");
        await linus.SendLineAsync("/topic line topic");
        await linus.ExpectLineAsync("! only channel operators of #ops may set its topic (+t)");

        await SendAsync(alice, "MODE #ops +o nobody", "MODE #ops +ov bob bob");
        await alice.ExpectLineAsync($":{Name} 441 alice nobody #ops :They aren't on that channel");
        await alice.ExpectLineAsync($":alice!alice@{Name} MODE #ops +o bob");
        await alice.ExpectLineAsync($":alice!alice@{Name} MODE #ops +v bob");
        await bob.ExpectLineAsync($":alice!alice@{Name} MODE #ops +o bob");
        await linus.ExpectLineAsync("* alice set mode +o bob on #ops");
        await SendAsync(bob, "NAMES #ops", "WHO #ops", "WHOIS bob");
        Assert.Equal(["@+bob", "@alice", "linus"], (await ExpectNamesAsync(bob, "bob", "#ops")));
        await bob.ExpectLineAsync(line => line.StartsWith($":{Name} 352 bob #ops ~bob {Name} {Name} bob H@+ :", StringComparison.Ordinal), "WHO with @+");
        await bob.ExpectLineAsync($":{Name} 319 bob bob @+#ops");

        // Now an operator, bob lifts +t, and the line user may set the topic.
        await SendAsync(bob, "MODE #ops -t", "MODE #ops");
        await alice.ExpectLineAsync($":bob!bob@{Name} MODE #ops -t");
        await bob.ExpectLineAsync($":{Name} 324 bob #ops +n");
        await linus.SendLineAsync("/topic line topic");
        await alice.ExpectLineAsync($":linus!linus@{Name} TOPIC #ops :line topic");

        // Taking operator back: bob is a plain member again and may not give it.
        await SendAsync(alice, "MODE #ops -o bob");
        await bob.ExpectLineAsync($":alice!alice@{Name} MODE #ops -o bob");
        await SendAsync(bob, "MODE #ops +t");
        await bob.ExpectLineAsync($":{Name} 482 bob #ops :You're not channel operator");
    }

    [Fact]
    public async Task KickPutsAMemberOutOfOneChannelAndKillOutOfTheChat()
    {
        await using var alice = await RegisterAsync("alice");
        await SendAsync(alice, "JOIN #a,#b");
        await alice.ExpectLineAsync($":{Name} 366 alice #b :End of /NAMES list");
        await using var bob = await RegisterAsync("bob");
        await SendAsync(bob, "JOIN #a,#b");
        await bob.ExpectLineAsync($":{Name} 366 bob #b :End of /NAMES list");
        await using var linus = await _server.JoinChatAsync("linus");
        await linus.SendLineAsync("/join a");
        await linus.ExpectLineAsync("* linus joined #a");

        await SendAsync(bob, "KICK #a alice :no");
        await bob.ExpectLineAsync($":{Name} 482 bob #a :You're not channel operator");
        await SendAsync(alice, "KICK #a bob :off topic", "KICK #a nobody");
        await bob.ExpectLineAsync($":alice!alice@{Name} KICK #a bob :off topic");
        await alice.ExpectLineAsync($":alice!alice@{Name} KICK #a bob :off topic");
        await alice.ExpectLineAsync($":{Name} 441 alice nobody #a :They aren't on that channel");
        await linus.ExpectLineAsync("* alice kicked bob out of #a (off topic)");

        // Out of #a only: bob still talks in #b, and #a no longer hears him.
        await SendAsync(bob, "PRIVMSG #a :let me back", "PRIVMSG #b :still here", "NAMES #a");
        await bob.ExpectLineAsync(line => line.StartsWith($":{Name} 404 bob #a :", StringComparison.Ordinal), "404");
        await alice.ExpectLineAsync($":bob!bob@{Name} PRIVMSG #b :still here");
        Assert.Equal(["@alice", "linus"], (await ExpectNamesAsync(bob, "bob", "#a")));

        // A server operator kicks in any channel, and KILL cuts a user off the whole chat as /kick does.
        await SendAsync(bob, "KILL alice :bye", "OPER bob opsecret", "KICK #b alice :oper says", "KILL linus :spam");
        await bob.ExpectLineAsync($":{Name} 481 bob :Permission Denied- You're not an IRC operator");
        await alice.ExpectLineAsync($":bob!bob@{Name} KICK #b alice :oper says");
        Assert.Contains("! disconnected: kicked by bob: spam", await linus.ReadToEndAsync());
    }

    [Fact]
    public async Task NoticeStaysANoticeOnIrcAndARenameComesOnce()
    {
        await using var alice = await RegisterAsync("alice", "echo-message");
        await SendAsync(alice, "JOIN #a,#b");
        await alice.ExpectLineAsync($":{Name} 366 alice #b :End of /NAMES list");
        await using var bob = await RegisterAsync("bob");
        await SendAsync(bob, "JOIN #a,#b");
        await bob.ExpectLineAsync($":{Name} 366 bob #b :End of /NAMES list");
        await using var linus = await _server.JoinChatAsync("linus");
        await linus.SendLineAsync("/join a");
        await linus.ExpectLineAsync("* linus joined #a");

        await SendAsync(alice, "NOTICE #a :heads up", "NOTICE bob :psst");
        await bob.ExpectLineAsync($":alice!alice@{Name} NOTICE #a :heads up");
        await alice.ExpectLineAsync($":alice!alice@{Name} NOTICE #a :heads up");
        await bob.ExpectLineAsync($":alice!alice@{Name} NOTICE bob psst");
        await alice.ExpectLineAsync($":alice!alice@{Name} NOTICE bob psst");
        await linus.ExpectLineAsync("<alice> heads up");

        // Two channels shared, one NICK: the line said after the rename comes after both rooms were told.
        await SendAsync(alice, "NICK alicia", "PRIVMSG #b :renamed");
        await bob.ExpectLineAsync($":alicia!alicia@{Name} PRIVMSG #b renamed");
        Assert.Single(bob.Seen, line => line == $":alice!alice@{Name} NICK alicia");
        await alice.ExpectLineAsync($":alicia!alicia@{Name} PRIVMSG #b renamed");
        Assert.Single(alice.Seen, line => line == $":alice!alice@{Name} NICK alicia");
        await linus.ExpectLineAsync("* alice is now known as alicia");
    }
}
