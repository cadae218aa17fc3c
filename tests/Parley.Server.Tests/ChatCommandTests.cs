using System.Text.Json;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public class ChatCommandTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(ServiceKind.Chat);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task ABurstInOneWriteArrivesInOrderWithCommandsInPlaceAndConsecutiveIds()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var watcher = await _server.JoinChatAsync("watcher");
        await using var json = await _server.JoinChatAsync("json");
        await json.SendLineAsync("/format json");
        await json.SendLineAsync("/ping set");
        await json.ExpectLineAsync(l => l.Contains("\"pong\"", StringComparison.Ordinal), "pong");
        await watcher.ExpectLineAsync("* json joined #lobby");

        // Lines that arrive together are relayed together; a command among them must keep its place.
        await alice.SendAsync("one\ntwo\n/me waves\nthree\nfour\n"u8.ToArray());
        Assert.Equal("<alice> one", await watcher.ReadLineAsync());
        Assert.Equal("<alice> two", await watcher.ReadLineAsync());
        Assert.Equal("* alice waves", await watcher.ReadLineAsync());
        Assert.Equal("<alice> three", await watcher.ReadLineAsync());
        Assert.Equal("<alice> four", await watcher.ReadLineAsync());

        var ids = new List<long>();
        var texts = new List<string>();
        while (texts.Count < 5)
        {
            string line = await json.ReadLineAsync() ?? throw new Xunit.Sdk.XunitException("closed");
            using var document = System.Text.Json.JsonDocument.Parse(line);
            var root = document.RootElement;
            texts.Add(root.GetProperty("text").GetString()!);
            ids.Add(root.GetProperty("id").GetInt64());
        }

        Assert.Equal(["one", "two", "waves", "three", "four"], texts);
        Assert.Equal(Enumerable.Range(0, 5).Select(i => ids[0] + i), ids);
    }

    [Fact]
    public async Task BroadcastReachesEveryoneButTheSender()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        await using var carol = await _server.JoinChatAsync("carol");

        await alice.SendLineAsync("hello room");
        await bob.ExpectLineAsync("<alice> hello room");
        await carol.ExpectLineAsync("<alice> hello room");

        // Alice's next line proves she was not sent her own: the first line she reads after joins is the pong.
        await alice.SendLineAsync("/ping mark");
        string next = await alice.ExpectLineAsync(line => !line.EndsWith("joined #lobby", StringComparison.Ordinal), "a line that is not a join");
        Assert.Equal("* pong mark", next);
    }

    [Fact]
    public async Task ANickSentFirstMeansNobodySeesTheGuestName()
    {
        await using var watcher = await _server.JoinChatAsync("watcher");
        await using var dana = await _server.ConnectAsync();
        await dana.SendLineAsync("/nick dana");
        await dana.SendLineAsync("hi");

        string joined = await watcher.ReadLineAsync() ?? "";
        Assert.Equal("* dana joined #lobby", joined);
        Assert.Equal("<dana> hi", await watcher.ReadLineAsync());
    }

    [Fact]
    public async Task AGuestThatOnlyListensIsToldWhoItIsAndIsAnnouncedOnlyWhenItSpeaks()
    {
        await using var watcher = await _server.JoinChatAsync("watcher");
        await using var guest = await _server.ConnectAsync();
        string welcome = await guest.ExpectLineAsync(line => line.StartsWith("* you are guest-", StringComparison.Ordinal), "the private welcome");
        Assert.Matches(@"^\* you are guest-\d+ in #lobby: /nick NAME to choose a name, /help for the commands$", welcome);
        string guestName = welcome.Split(' ')[3];

        // Listening costs the room nothing: the watcher hears of nobody, and still hears the guest once it speaks.
        await watcher.SendLineAsync("/ping quiet");
        await watcher.ExpectLineAsync("* pong quiet");
        Assert.DoesNotContain(watcher.Seen, line => line.Contains(guestName, StringComparison.Ordinal));

        await guest.SendLineAsync("hello");
        await watcher.ExpectLineAsync($"* {guestName} joined #lobby");
        await watcher.ExpectLineAsync($"<{guestName}> hello");
    }

    [Fact]
    public async Task RenameAndLeaveAreAnnouncedToTheRoom()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");

        await alice.SendLineAsync("/nick al");
        await bob.ExpectLineAsync("* alice is now known as al");
        await alice.ExpectLineAsync("* alice is now known as al");

        await alice.SendLineAsync("/quit gone fishing");
        await bob.ExpectLineAsync("* al left #lobby (gone fishing)");
        Assert.Null(await alice.ReadLineAsync());
    }

    [Fact]
    public async Task ExitAsAWholeLineLeavesLikeTheTutorialsClient()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        await alice.SendLineAsync("exit");
        await bob.ExpectLineAsync("* alice left #lobby (quit)");
        // The server closes the connection: reading to the end returns rather than timing out.
        Assert.DoesNotContain(await alice.ReadToEndAsync(), line => line.StartsWith('<'));
    }

    [Fact]
    public async Task JoinMovesAMemberBetweenRoomsAndRoomsAreSeparate()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        await alice.SendLineAsync("/join #dev");
        await bob.ExpectLineAsync("* alice left #lobby");
        await alice.ExpectLineAsync("* alice joined #dev");

        await bob.SendLineAsync("only the lobby hears this");
        await bob.SendLineAsync("/join dev");
        await alice.ExpectLineAsync("* bob joined #dev");
        await bob.SendLineAsync("now dev hears me");
        // The lobby line was never delivered to dev: the next message alice sees is this one.
        Assert.Equal("<bob> now dev hears me", await alice.ReadLineAsync());
    }

    [Fact]
    public async Task WhoListsTheRoomAndRoomsCountsMembers()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        await bob.SendLineAsync("/join side");
        await bob.ExpectLineAsync("* bob joined #side");

        await alice.SendLineAsync("/who");
        await alice.ExpectLineAsync("* members of #lobby: alice");
        await alice.SendLineAsync("/rooms");
        await alice.ExpectLineAsync("* rooms: #lobby (1), #side (1)");
    }

    [Fact]
    public async Task PrivateMessagesReachOnlyTheirRecipientWhereverTheyAre()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        await using var carol = await _server.JoinChatAsync("carol");
        await bob.SendLineAsync("/join elsewhere");
        await bob.ExpectLineAsync("* bob joined #elsewhere");

        await alice.SendLineAsync("/msg BOB psst, secret");
        await bob.ExpectLineAsync("*alice* psst, secret");
        await alice.SendLineAsync("/msg nobody hello");
        await alice.ExpectLineAsync("! no such user: nobody");

        await carol.SendLineAsync("/ping done");
        await carol.ExpectLineAsync(line => line == "* pong done" || line.Contains("secret", StringComparison.Ordinal), "pong");
        Assert.DoesNotContain(carol.Seen, line => line.Contains("secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ActionLinesAndDoubleSlash()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        await alice.SendLineAsync("/me waves");
        await bob.ExpectLineAsync("* alice waves");
        await alice.SendLineAsync("//nick is how you rename");
        await bob.ExpectLineAsync("<alice> /nick is how you rename");
    }

    [Fact]
    public async Task NamesAreUniqueIgnoringCaseAndUnicodeNamesWork()
    {
        await using var zhang = await _server.JoinChatAsync("张康");
        await using var alice = await _server.JoinChatAsync("Alice");
        await using var other = await _server.JoinChatAsync("other");

        await other.SendLineAsync("/nick ALICE");
        await other.ExpectLineAsync("! the name ALICE is taken");
        await other.SendLineAsync("/nick two words");
        await other.ExpectLineAsync(line => line.StartsWith("! invalid name:", StringComparison.Ordinal), "an invalid name error");

        await zhang.SendLineAsync("你好");
        await alice.ExpectLineAsync("<张康> 你好");
    }

    [Fact]
    public async Task HelpListsTheCommandsAndUnknownCommandsAreErrors()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await alice.SendLineAsync("/help");
        foreach (string command in new[] { "/nick", "/join", "/who", "/rooms", "/msg", "/me", "/format", "/quit" })
        {
            await alice.ExpectLineAsync(line => line.StartsWith($"* {command} ", StringComparison.Ordinal), command);
        }

        await alice.SendLineAsync("/dance");
        await alice.ExpectLineAsync("! unknown command /dance (try /help)");
    }

    [Fact]
    public async Task JsonFormatCarriesTypeRoomFromTextTimestampAndIncreasingIds()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        await bob.SendLineAsync("/format json");
        await bob.ExpectLineAsync(line => line.Contains("\"format is now json\"", StringComparison.Ordinal), "format notice");

        await alice.SendLineAsync("first");
        await alice.SendLineAsync("second");
        using var first = JsonDocument.Parse(await bob.ReadLineAsync() ?? "");
        using var second = JsonDocument.Parse(await bob.ReadLineAsync() ?? "");
        var one = first.RootElement;
        Assert.Equal("message", one.GetProperty("type").GetString());
        Assert.Equal("lobby", one.GetProperty("room").GetString());
        Assert.Equal("alice", one.GetProperty("from").GetString());
        Assert.Equal("first", one.GetProperty("text").GetString());
        Assert.True(DateTimeOffset.TryParse(one.GetProperty("ts").GetString(), out var ts));
        Assert.InRange(ts, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.True(second.RootElement.GetProperty("id").GetInt64() > one.GetProperty("id").GetInt64());

        await alice.SendLineAsync("/quit");
        using var leave = JsonDocument.Parse(await bob.ReadLineAsync() ?? "");
        Assert.Equal("leave", leave.RootElement.GetProperty("type").GetString());
        Assert.Equal("alice", leave.RootElement.GetProperty("from").GetString());
    }

    [Fact]
    public async Task JsonClientsGetErrorsWithACodeTheyCanTestInsteadOfEnglish()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var json = await _server.ConnectAsync();
        await json.SendLineAsync("/format json");

        await json.SendLineAsync("/nick ALICE");
        string taken = await json.ExpectLineAsync(l => l.Contains("\"type\":\"error\"", StringComparison.Ordinal), "the error");
        Assert.Contains("\"code\":\"name_taken\"", taken, StringComparison.Ordinal);
        await json.SendLineAsync("/history before x");
        Assert.Contains("\"code\":\"invalid_history_request\"", await json.ExpectLineAsync(l => l.Contains("\"type\":\"error\"", StringComparison.Ordinal), "the second error"), StringComparison.Ordinal);
    }
}
