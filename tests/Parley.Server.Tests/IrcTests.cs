using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>The IRC front end with raw IRC clients over loopback, in the same rooms as line clients.</summary>
public class IrcTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync([ServiceKind.Chat, ServiceKind.Irc], Framing.Line, o => o.OperatorPassword = "opsecret");

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<LineClient> RegisterAsync(string nick, string caps = "") =>
        IrcTestClient.RegisterAsync(_server.EndPointOf(ServiceKind.Irc), "parley", nick, caps);

    private static Task SendAsync(LineClient client, params string[] lines) => IrcTestClient.SendAsync(client, lines);

    [Fact]
    public async Task RegistrationNegotiatesCapabilitiesAndWelcomesWithIsupport()
    {
        await using var client = await LineClient.ConnectAsync(_server.EndPointOf(ServiceKind.Irc));
        await SendAsync(client, "CAP LS 302", "PRIVMSG #dev :too early", "NICK 张康", "USER zk 0 * :Zhang Kang");
        await client.ExpectLineAsync(":parley CAP * LS :batch cap-notify draft/chathistory echo-message message-tags multi-prefix server-time userhost-in-names");
        await client.ExpectLineAsync(":parley 451 * :You have not registered");
        await SendAsync(client, "CAP REQ :server-time bogus-cap", "CAP REQ :server-time", "CAP END");
        await client.ExpectLineAsync(":parley CAP 张康 NAK :server-time bogus-cap");
        await client.ExpectLineAsync(":parley CAP 张康 ACK server-time");
        await client.ExpectLineAsync(line => line.StartsWith(":parley 001 张康 :Welcome", StringComparison.Ordinal), "001");
        string isupport = await client.ExpectLineAsync(line => line.StartsWith(":parley 005 张康 ", StringComparison.Ordinal), "005");
        Assert.Contains(" CASEMAPPING=rfc8265 ", isupport, StringComparison.Ordinal);
        Assert.Contains(" CHANTYPES=# ", isupport, StringComparison.Ordinal);
        Assert.Contains(" NICKLEN=32 ", isupport, StringComparison.Ordinal);
        Assert.Contains(" CHATHISTORY=500 ", isupport, StringComparison.Ordinal);
        Assert.Contains(" UTF8ONLY ", isupport, StringComparison.Ordinal);
        await client.ExpectLineAsync(line => line.StartsWith(":parley 376 张康 ", StringComparison.Ordinal), "the end of the MOTD");
        await SendAsync(client, "PING :are you there", "USER again 0 * :x");
        await client.ExpectLineAsync(":parley PONG parley :are you there");
        await client.ExpectLineAsync(":parley 462 张康 :You may not reregister");
    }

    [Fact]
    public async Task IrcAndLineUsersTalkInOneRoomBothWays()
    {
        await using var linus = await _server.JoinChatAsync("linus");
        await linus.SendLineAsync("/join dev");
        await linus.ExpectLineAsync("* linus joined #dev");
        await using var irc = await RegisterAsync("ircy");
        await SendAsync(irc, "JOIN #dev");
        await irc.ExpectLineAsync(":ircy!ircy@parley JOIN #dev");
        string names = await irc.ExpectLineAsync(line => line.StartsWith(":parley 353 ircy = #dev :", StringComparison.Ordinal), "NAMES");
        Assert.Equal(["@linus", "ircy"], names.Split(':')[2].Split(' ').Order(StringComparer.Ordinal));
        await irc.ExpectLineAsync(":parley 366 ircy #dev :End of /NAMES list");
        await linus.ExpectLineAsync("* ircy joined #dev");

        await linus.SendLineAsync("hello irc");
        await irc.ExpectLineAsync(":linus!linus@parley PRIVMSG #dev :hello irc");
        await linus.SendLineAsync("/me waves");
        await irc.ExpectLineAsync(":linus!linus@parley PRIVMSG #dev :\u0001ACTION waves\u0001");
        await SendAsync(irc, "PRIVMSG #dev :hello line", "PRIVMSG #dev :\u0001ACTION dances\u0001", "PRIVMSG linus :psst");
        await linus.ExpectLineAsync("<ircy> hello line");
        await linus.ExpectLineAsync("* ircy dances");
        await linus.ExpectLineAsync("*ircy* psst");
        await linus.SendLineAsync("/msg ircy back at you");
        await irc.ExpectLineAsync(":linus!linus@parley PRIVMSG ircy :back at you");

        await linus.SendLineAsync("/topic shipping on friday");
        await irc.ExpectLineAsync(":linus!linus@parley TOPIC #dev :shipping on friday");
        await SendAsync(irc, "NICK irene");
        await irc.ExpectLineAsync(":ircy!ircy@parley NICK irene");
        await linus.ExpectLineAsync("* ircy is now known as irene");
        await linus.SendLineAsync("/nick lin");
        await irc.ExpectLineAsync(":linus!linus@parley NICK lin");
        await SendAsync(irc, "PART #dev :lunch");
        await irc.ExpectLineAsync(":irene!irene@parley PART #dev lunch");
        await linus.ExpectLineAsync("* irene left #dev (lunch)");
        await SendAsync(irc, "JOIN #dev");
        await irc.ExpectLineAsync(":parley 332 irene #dev :shipping on friday");
        await linus.SendLineAsync("/quit");
        await irc.ExpectLineAsync(":lin!lin@parley PART #dev quit");
    }

    [Fact]
    public async Task EnteringAChannelGivesJoinTopicAndNamesBeforeItsHistoryWithTagsAndEchoes()
    {
        await using var linus = await _server.JoinChatAsync("linus");
        await linus.SendLineAsync("/join history");
        await linus.SendLineAsync("said before");
        await linus.SendLineAsync("/ping sent");
        await linus.ExpectLineAsync("* pong sent");
        await using var irc = await RegisterAsync("ircy", "server-time message-tags echo-message batch draft/chathistory");
        await SendAsync(irc, "JOIN #history");
        await irc.ExpectLineAsync(line => line.EndsWith(" :ircy!ircy@parley JOIN #history", StringComparison.Ordinal), "JOIN");
        await irc.ExpectLineAsync(line => line.StartsWith(":parley 353 ", StringComparison.Ordinal), "NAMES");
        await irc.ExpectLineAsync(":parley 366 ircy #history :End of /NAMES list");
        string replayed = await irc.ExpectLineAsync(line => line.Contains("PRIVMSG #history", StringComparison.Ordinal), "the replayed line");
        Assert.Matches(@"^@time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z;msgid=history:1 :linus!linus@parley PRIVMSG #history :said before$", replayed);

        await SendAsync(irc, "PRIVMSG #history :my own line");
        await irc.ExpectLineAsync(line => line.EndsWith(";msgid=history:2 :ircy!ircy@parley PRIVMSG #history :my own line", StringComparison.Ordinal), "the echo");
        await linus.ExpectLineAsync("<ircy> my own line");
        Assert.Single(irc.Seen, line => line.EndsWith(" JOIN #history", StringComparison.Ordinal));

        await SendAsync(irc, "CHATHISTORY BEFORE #history msgid=history:2 10");
        await irc.ExpectLineAsync(":parley BATCH +h1 chathistory #history");
        await irc.ExpectLineAsync(line => line.StartsWith("@batch=h1;time=", StringComparison.Ordinal) && line.EndsWith(";msgid=history:1 :linus!linus@parley PRIVMSG #history :said before", StringComparison.Ordinal), "the page");
        await irc.ExpectLineAsync(":parley BATCH -h1");
    }

    [Fact]
    public async Task ABurstKeepsItsOrderAcrossChannelsAndTheCommandsBetweenItsLines()
    {
        // The writer makes the channels, so it is their operator and may set the topic (+t).
        await using var writer = await RegisterAsync("writer");
        await SendAsync(writer, "JOIN #a,#b");
        await writer.ExpectLineAsync(":parley 366 writer #b :End of /NAMES list");
        await using var reader = await RegisterAsync("reader");
        await SendAsync(reader, "JOIN #a,#b");
        await reader.ExpectLineAsync(":parley 366 reader #b :End of /NAMES list");

        // One write: PRIVMSGs to one channel travel together, but never past a line to another channel or a command.
        await SendAsync(writer, "PRIVMSG #a :line 1", "PRIVMSG #a :line 2", "PRIVMSG #b :line 3", "PRIVMSG #a :line 4", "TOPIC #a :new topic", "PRIVMSG #a :line 5", "PRIVMSG reader :line 6", "PRIVMSG #a :line 7", "PART #a");
        await reader.ExpectLineAsync(":writer!writer@parley PART #a");
        string[] fromWriter = [.. reader.Seen.Where(line => line.StartsWith(":writer!", StringComparison.Ordinal) && !line.Contains(" JOIN ", StringComparison.Ordinal))];
        Assert.Equal(
            [
                ":writer!writer@parley PRIVMSG #a :line 1",
                ":writer!writer@parley PRIVMSG #a :line 2",
                ":writer!writer@parley PRIVMSG #b :line 3",
                ":writer!writer@parley PRIVMSG #a :line 4",
                ":writer!writer@parley TOPIC #a :new topic",
                ":writer!writer@parley PRIVMSG #a :line 5",
                ":writer!writer@parley PRIVMSG reader :line 6",
                ":writer!writer@parley PRIVMSG #a :line 7",
                ":writer!writer@parley PART #a",
            ],
            fromWriter);
    }

    [Fact]
    public async Task ClientTagsReachOnlyIrcClientsThatTakeThemAndTagmsgNobodyElse()
    {
        await using var alice = await RegisterAsync("alice", "message-tags batch");
        await SendAsync(alice, "JOIN #tags");
        await alice.ExpectLineAsync(":parley 366 alice #tags :End of /NAMES list");
        await using var bob = await RegisterAsync("bob", "message-tags echo-message");
        await SendAsync(bob, "JOIN #tags");
        await bob.ExpectLineAsync(":parley 366 bob #tags :End of /NAMES list");
        await using var carol = await RegisterAsync("carol");
        await SendAsync(carol, "JOIN #tags");
        await carol.ExpectLineAsync(":parley 366 carol #tags :End of /NAMES list");
        await using var linus = await _server.JoinChatAsync("linus");
        await linus.SendLineAsync("/join tags");
        await linus.ExpectLineAsync("* linus joined #tags");

        // Client-only tags (+name) travel with the line to IRC clients with message-tags; server tags sent by a client do not.
        await SendAsync(alice, @"@+draft/reply=tags:1;+note=a\sb;fizz=buzz PRIVMSG #tags :hi all");
        string tagged = await bob.ExpectLineAsync(line => line.EndsWith(" :alice!alice@parley PRIVMSG #tags :hi all", StringComparison.Ordinal), "the tagged line");
        Assert.Matches(@"^@msgid=tags:\d+;\+draft/reply=tags:1;\+note=a\\sb :", tagged);
        await carol.ExpectLineAsync(":alice!alice@parley PRIVMSG #tags :hi all");
        await linus.ExpectLineAsync("<alice> hi all");

        // TAGMSG: tags only, to those who can show them (bob's own comes back as his echo); nobody else hears of it.
        await SendAsync(bob, "@+typing=active TAGMSG #tags");
        string typing = await alice.ExpectLineAsync(line => line.EndsWith(" :bob!bob@parley TAGMSG #tags", StringComparison.Ordinal), "the TAGMSG");
        Assert.Matches(@"^@msgid=t[0-9a-f]{32};\+typing=active :", typing);
        await bob.ExpectLineAsync(typing);
        await SendAsync(bob, "PRIVMSG #tags :after the tags");
        await carol.ExpectLineAsync(":bob!bob@parley PRIVMSG #tags :after the tags");
        await linus.ExpectLineAsync("<bob> after the tags");
        Assert.DoesNotContain(carol.Seen, line => line.Contains("TAGMSG", StringComparison.Ordinal));
        Assert.DoesNotContain(linus.Seen, line => line.Contains("typing", StringComparison.Ordinal) || line == "<bob> ");

        // Privately as well.
        await SendAsync(alice, "@+react=👍 TAGMSG bob");
        await bob.ExpectLineAsync(line => line.EndsWith("+react=👍 :alice!alice@parley TAGMSG bob", StringComparison.Ordinal), "the private TAGMSG");
    }

    [Fact]
    public async Task MistakesGetTheirNumericsAndTheConnectionStays()
    {
        await using var taken = await RegisterAsync("taken");
        await SendAsync(taken, "JOIN #open");
        await taken.ExpectLineAsync(":parley 366 taken #open :End of /NAMES list");
        await using var irc = await LineClient.ConnectAsync(_server.EndPointOf(ServiceKind.Irc));
        await SendAsync(irc, "NICK TAKEN", "NICK bad!nick", "NICK fine", "USER fine 0 * :Fine");
        await irc.ExpectLineAsync(":parley 433 * TAKEN :Nickname is already in use");
        await irc.ExpectLineAsync(line => line.StartsWith(":parley 432 * bad!nick :Erroneous nickname", StringComparison.Ordinal), "432");
        await irc.ExpectLineAsync(line => line.StartsWith(":parley 376 fine ", StringComparison.Ordinal), "registered");
        await SendAsync(
            irc,
            "PRIVMSG nobody :hi",
            "PRIVMSG a,b,c,d,e :hi",
            "PRIVMSG #open :not joined",
            "PRIVMSG #nowhere :hi",
            "PRIVMSG taken",
            "PRIVMSG",
            "JOIN #keyed secret",
            "JOIN",
            "JOIN nohash",
            "PART #open",
            "FROBNICATE",
            "KICK #open taken :bye",
            "OPER fine wrong",
            "PRIVMSG #open :" + new string('x', 600));
        await irc.ExpectLineAsync(":parley 401 fine nobody :No such nick/channel");
        await irc.ExpectLineAsync(":parley 407 fine a,b,c,d,e :Too many recipients (at most 4)");
        await irc.ExpectLineAsync(line => line.StartsWith(":parley 404 fine #open :", StringComparison.Ordinal), "404");
        await irc.ExpectLineAsync(":parley 403 fine #nowhere :No such channel");
        await irc.ExpectLineAsync(":parley 412 fine :No text to send");
        await irc.ExpectLineAsync(":parley 411 fine :No recipient given (PRIVMSG)");
        await irc.ExpectLineAsync(line => line.StartsWith(":parley 475 fine #keyed :", StringComparison.Ordinal), "475");
        await irc.ExpectLineAsync(":parley 461 fine JOIN :Not enough parameters");
        await irc.ExpectLineAsync(line => line.StartsWith(":parley 403 fine nohash :", StringComparison.Ordinal), "403");
        await irc.ExpectLineAsync(":parley 442 fine #open :You're not on that channel");
        await irc.ExpectLineAsync(":parley 421 fine FROBNICATE :Unknown command");
        await irc.ExpectLineAsync(":parley 442 fine #open :You're not on that channel");
        await irc.ExpectLineAsync(":parley 464 fine :Password incorrect");
        await irc.ExpectLineAsync(":parley 417 fine :Input line was too long");
        await SendAsync(irc, "OPER fine opsecret", "KILL taken :spam");
        await irc.ExpectLineAsync(line => line.StartsWith(":parley 381 fine :", StringComparison.Ordinal), "381");
        Assert.Contains("ERROR :disconnected: kicked by fine: spam", await taken.ReadToEndAsync());
    }

    [Fact]
    public async Task TheServerPasswordIsAskedWithPass()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Irc], Framing.Line, o => o.Password = "s3cret");
        await using var refused = await LineClient.ConnectAsync(server.EndPointOf(ServiceKind.Irc));
        await SendAsync(refused, "PASS guess", "NICK mallory", "USER m 0 * :M");
        var lines = await refused.ReadToEndAsync();
        Assert.Equal(":parley 464 mallory :Password incorrect", lines[0]);
        Assert.StartsWith("ERROR :", lines[1], StringComparison.Ordinal);

        await using var admitted = await LineClient.ConnectAsync(server.EndPointOf(ServiceKind.Irc));
        await SendAsync(admitted, "PASS s3cret", "NICK alice", "USER a 0 * :A");
        await admitted.ExpectLineAsync(line => line.StartsWith(":parley 001 alice ", StringComparison.Ordinal), "001");
    }

    [Fact]
    public async Task AQuietClientIsPingedAndADeadOneDropped()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Irc], Framing.Line, o => o.IrcPingInterval = TimeSpan.FromMilliseconds(200));
        await using var alive = await LineClient.ConnectAsync(server.EndPointOf(ServiceKind.Irc));
        await using var dead = await LineClient.ConnectAsync(server.EndPointOf(ServiceKind.Irc));
        await SendAsync(alive, "NICK alive", "USER a 0 * :A");
        await SendAsync(dead, "NICK dead", "USER d 0 * :D");
        await alive.ExpectLineAsync("PING parley");
        await SendAsync(alive, "PONG parley");
        await alive.ExpectLineAsync("PING parley");
        // Bounded as a whole: a server that never drops it would ping it for ever.
        await dead.ExpectLineAsync("ERROR :Closing link: ping timeout (0 seconds)").DefaultTimeout();
        Assert.Null(await dead.ReadLineAsync());
    }
}
