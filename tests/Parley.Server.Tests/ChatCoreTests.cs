using System.Buffers;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Protocol.Chat;
using Parley.Server.Bus;
using Parley.Server.Chat;
using Parley.Server.Connections;
using Parley.Server.History;
using Parley.Server.Hosting;
using Parley.Server.Names;

namespace Parley.Server.Tests;

/// <summary>
/// The chat core without sockets: hubs on one in-process bus and name registry behave as one chat, as SignalR's
/// Redis tests make two servers one. What a member is sent is read back from its queue.
/// </summary>
public sealed class ChatCoreTests
{
    private readonly ServerOptions _options = new() { History = HistoryMode.Memory };
    private readonly InProcessNameRegistry _names = new();
    private readonly MemoryRoomHistory _history = new(keep: 1000);
    private readonly InProcessRoomBus _bus;

    public ChatCoreTests() => _bus = new InProcessRoomBus(_history);

    [Fact]
    public async Task TwoHubsOnOneBusAreOneChat()
    {
        var east = NewHub();
        var west = NewHub();
        var alice = await JoinAsync(east, "alice");
        var bob = await JoinAsync(west, "bob");
        Assert.Contains("* bob joined #lobby", Drain(alice));

        Assert.True((await alice.SayAsync(alice.CurrentRoom!, ["hello from the east"])).IsOk);
        Assert.Contains("<alice> hello from the east", Drain(bob));

        Assert.Equal("* members of #lobby: alice, bob", Text(bob.Who(bob.CurrentRoom!)));
        Assert.Equal("* rooms: #lobby (2)", Text(alice.Rooms()));

        var carol = await JoinAsync(west, "carol");
        var taken = await carol.NickAsync("ALICE");
        Assert.Equal(ChatError.NameTaken, taken.Error);

        Assert.True((await bob.MessageAsync("alice", "psst")).IsOk);
        Assert.Contains("*bob* psst", Drain(alice));
        Assert.Equal(ChatError.NoSuchUser, (await bob.MessageAsync("nobody", "hello?")).Error);

        await west.DisconnectAsync(bob.Member, "quit");
        Assert.Contains("* bob left #lobby (quit)", Drain(alice));
        Assert.True((await alice.NickAsync("bob")).IsOk, "a name is free once its holder left, on any node");
    }

    [Fact]
    public async Task ARoomsIdsCarryOnWhenItEmptiesAndIsCreatedAgainEvenWithNoHistory()
    {
        var none = new NoRoomHistory();
        var options = new ServerOptions { History = HistoryMode.Off };
        var hub = new ChatHub(options, _names, new InProcessRoomBus(none), none, new OutputBudget(options.MaxOutputMemory), TimeProvider.System, NullLogger<ChatHub>.Instance);
        var alice = await JoinAsync(hub, "alice");
        var listener = await JoinAsync(hub, "listener", json: true);
        Assert.True((await alice.MoveAsync("x")).IsOk);
        Assert.True((await listener.MoveAsync("x")).IsOk);
        Assert.True((await alice.SayAsync(alice.CurrentRoom!, ["1", "2", "3", "4", "5"])).IsOk);
        Assert.Equal([1L, 2, 3, 4, 5], Ids(Drain(listener)));

        await alice.MoveAsync("lobby");
        await listener.MoveAsync("lobby");
        Assert.Equal(["lobby"], hub.Rooms().Rooms!.Select(r => r.Room));

        await alice.MoveAsync("x");
        await listener.MoveAsync("x");
        Drain(listener);
        await alice.SayAsync(alice.CurrentRoom!, ["after"]);
        Assert.Equal([6L], Ids(Drain(listener)));
    }

    [Fact]
    public async Task AMemberInSeveralRoomsHearsEachAndLeavesOneAlone()
    {
        var hub = NewHub();
        var irc = await JoinAsync(hub, "ircuser");
        var dev = await JoinAsync(hub, "devuser");
        await dev.MoveAsync("dev");
        Assert.True((await irc.JoinAsync("#dev")).IsOk);
        Assert.Equal(["lobby", "dev"], irc.Member.Rooms.Select(r => r.Name));
        var lobbyMember = await JoinAsync(hub, "lobbyist");

        await dev.SayAsync(dev.CurrentRoom!, ["in dev"]);
        await lobbyMember.SayAsync(lobbyMember.CurrentRoom!, ["in the lobby"]);
        var heard = Drain(irc);
        Assert.Contains("<devuser> in dev", heard);
        Assert.Contains("<lobbyist> in the lobby", heard);

        Assert.True((await irc.PartAsync("dev", "bye")).IsOk);
        Assert.Contains("* ircuser left #dev (bye)", Drain(dev));
        Assert.Equal(ChatError.NotInRoom, (await irc.PartAsync("dev", "again")).Error);
        await lobbyMember.SayAsync(lobbyMember.CurrentRoom!, ["still here?"]);
        Assert.Contains("<lobbyist> still here?", Drain(irc));
    }

    [Fact]
    public async Task EnteringARoomReplaysItsRecentLinesMarkedAsHistoryThenLiveOnes()
    {
        var hub = NewHub();
        var alice = await JoinAsync(hub, "alice");
        await alice.SayAsync(alice.CurrentRoom!, [.. Enumerable.Range(1, 30).Select(i => $"line {i}")]);

        var late = await JoinAsync(hub, "late", json: true);
        var seen = Drain(late);
        var replayed = seen.Where(l => l.Contains("\"history\":true", StringComparison.Ordinal)).ToList();
        Assert.Equal(_options.Replay, replayed.Count);
        Assert.Equal(Enumerable.Range(11, 20).Select(i => (long)i), Ids(replayed));
    }

    [Fact]
    public async Task ACrowdEnteringAQuietRoomReadsTheStoreOnceAndStillGetsItsLines()
    {
        var store = new CountingHistory(_history);
        var hub = new ChatHub(_options, _names, new InProcessRoomBus(store), store, new OutputBudget(_options.MaxOutputMemory), TimeProvider.System, NullLogger<ChatHub>.Instance);
        var first = await JoinAsync(hub, "first");
        await first.SayAsync(first.CurrentRoom!, ["said before the crowd"]);
        var crowd = new List<ChatSession>();
        for (int i = 0; i < 10; i++)
        {
            crowd.Add(await JoinAsync(hub, $"crowd{i}", json: true));
        }

        Assert.Equal(1, store.Reads);
        Assert.All(crowd, member => Assert.Equal([1L], Ids(Drain(member).Where(l => l.Contains("\"history\":true", StringComparison.Ordinal)))));
    }

    [Fact]
    public async Task EachNewcomersReplayEndsWithTheRoomsLatestLine()
    {
        // Newcomers between two lines share one formatted replay; the next line makes a new one.
        var hub = NewHub();
        var alice = await JoinAsync(hub, "alice");
        await alice.SayAsync(alice.CurrentRoom!, [.. Enumerable.Range(1, 25).Select(i => $"line {i}")]);
        var first = await JoinAsync(hub, "first", json: true);
        var second = await JoinAsync(hub, "second", json: true);
        await alice.SayAsync(alice.CurrentRoom!, ["line 26"]);
        var third = await JoinAsync(hub, "third", json: true);

        static IEnumerable<long> Replayed(List<string> lines) => Ids(lines.Where(l => l.Contains("\"history\":true", StringComparison.Ordinal)));
        Assert.Equal(Enumerable.Range(6, 20).Select(i => (long)i), Replayed(Drain(first)));
        Assert.Equal(Enumerable.Range(6, 20).Select(i => (long)i), Replayed(Drain(second)));
        Assert.Equal(Enumerable.Range(7, 20).Select(i => (long)i), Replayed(Drain(third)));
    }

    [Fact]
    public async Task NewcomersGetTheStoresOlderLinesUntilMemoryHoldsAWholeReplay()
    {
        // Lines from before this node had the room (a restart): only the store has them, for every newcomer.
        for (int i = 1; i <= 5; i++)
        {
            _history.Append("lobby", new ChatEvent(ChatEventType.Message, DateTimeOffset.UtcNow) { Room = "lobby", From = "earlier", Text = $"old {i}", Id = i });
        }

        var hub = NewHub();
        var alice = await JoinAsync(hub, "alice", json: true);
        var bob = await JoinAsync(hub, "bob", json: true);
        Assert.Equal([1L, 2, 3, 4, 5], Ids(Drain(alice).Where(l => l.Contains("\"history\":true", StringComparison.Ordinal))));
        Assert.Equal([1L, 2, 3, 4, 5], Ids(Drain(bob).Where(l => l.Contains("\"history\":true", StringComparison.Ordinal))));
    }

    private ChatHub NewHub() =>
        new(_options, _names, _bus, _history, new OutputBudget(_options.MaxOutputMemory), TimeProvider.System, NullLogger<ChatHub>.Instance);

    private async Task<ChatSession> JoinAsync(ChatHub hub, string name, bool json = false)
    {
        var member = await hub.ConnectAsync("127.0.0.1:1", new OutboundQueue(1024 * 1024));
        member.Format = json ? Protocol.Formats.JsonFormatter.Instance : Protocol.Formats.TextFormatter.Instance;
        var session = new ChatSession(hub, member, _options, new ConnectionLimiter(_options), NullLogger.Instance);
        Assert.True((await session.StartAsync()).IsOk);
        Assert.True((await session.NickAsync(name)).IsOk);
        return session;
    }

    private static string Text(ChatEvent chatEvent) => ChatEventFormatter.ToText(chatEvent);

    private static List<string> Drain(ChatSession session)
    {
        var buffer = new ArrayBufferWriter<byte>();
        session.Member.Queue.WriteQueuedTo(buffer);
        return [.. Encoding.UTF8.GetString(buffer.WrittenSpan).Split('\n', StringSplitOptions.RemoveEmptyEntries)];
    }

    private static IEnumerable<long> Ids(IEnumerable<string> jsonLines) =>
        jsonLines.Where(l => l.Contains("\"type\":\"message\"", StringComparison.Ordinal))
            .Select(l => ChatEventParser.TryParse(Encoding.UTF8.GetBytes(l), out var e) ? e.Id ?? -1 : -1);
}

/// <summary>A real store that counts the reads made of it.</summary>
internal sealed class CountingHistory(IRoomHistory inner) : IRoomHistory
{
    private int _reads;

    public int Reads => Volatile.Read(ref _reads);

    public event Action<HistoryLoss>? LinesNotKept
    {
        add => inner.LinesNotKept += value;
        remove => inner.LinesNotKept -= value;
    }

    public bool IsAvailable => inner.IsAvailable;

    public ValueTask<long> LastIdAsync(string roomKey, CancellationToken cancellation = default) => inner.LastIdAsync(roomKey, cancellation);

    public void Append(string roomKey, ChatEvent line) => inner.Append(roomKey, line);

    public ValueTask<IReadOnlyList<ChatEvent>> ReadAsync(string roomKey, HistoryQuery query, CancellationToken cancellation = default)
    {
        Interlocked.Increment(ref _reads);
        return inner.ReadAsync(roomKey, query, cancellation);
    }

    public ValueTask<ChatEvent?> TopicAsync(string roomKey, CancellationToken cancellation = default) => inner.TopicAsync(roomKey, cancellation);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
