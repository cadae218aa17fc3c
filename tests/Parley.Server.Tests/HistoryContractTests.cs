using Parley.Protocol.Chat;
using Parley.Server.History;
using Parley.Testing;
using static Parley.Server.Tests.HistoryLines;

namespace Parley.Server.Tests;

/// <summary>What every <see cref="IRoomHistory"/> promises; run against each store by the classes below.</summary>
public abstract class HistoryContractTests : IAsyncLifetime
{
    private IRoomHistory? _history;

    private protected IRoomHistory History => _history ?? throw new InvalidOperationException("not opened");

    public Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        if (_history is not null)
        {
            await _history.DisposeAsync().AsTask().DefaultTimeout();
        }
    }

    /// <summary>A store keeping <paramref name="keep"/> lines per room (zero: all); a second call reopens the same place.</summary>
    private protected abstract Task<IRoomHistory> CreateAsync(int keep);

    /// <summary>Everything appended so far is where a fresh reader finds it (for SQLite: on disk).</summary>
    private protected virtual Task FlushAsync() => Task.CompletedTask;

    /// <summary>Applies retention now instead of at the next timer tick.</summary>
    private protected virtual Task PruneAsync() => Task.CompletedTask;

    private protected async Task<IRoomHistory> OpenAsync(int keep = 0)
    {
        _history = await CreateAsync(keep);
        return _history;
    }

    private protected async Task<IRoomHistory> ReopenAsync(int keep = 0)
    {
        await History.DisposeAsync().AsTask().DefaultTimeout();
        return await OpenAsync(keep);
    }

    private protected void AppendRange(string room, long first, long last)
    {
        for (long id = first; id <= last; id++)
        {
            History.Append(room, Message(room, id));
        }
    }

    private protected Task<IReadOnlyList<ChatEvent>> PageAsync(string room, HistoryQuery query) => History.ReadAsync(room, query).AsTask().DefaultTimeout();

    [Fact]
    public async Task LastIdIsTheHighestIdAppendedToTheRoom()
    {
        var history = await OpenAsync();
        Assert.Equal(0, await history.LastIdAsync("dev").DefaultTimeout());
        AppendRange("dev", 1, 5);
        AppendRange("ops", 1, 9);
        Assert.Equal(5, await history.LastIdAsync("dev").DefaultTimeout());
        await FlushAsync();
        Assert.Equal(5, await history.LastIdAsync("dev").DefaultTimeout());
        Assert.Equal(9, await history.LastIdAsync("ops").DefaultTimeout());
        Assert.Equal(0, await history.LastIdAsync("nobody-here").DefaultTimeout());
    }

    [Fact]
    public async Task LatestIsTheNewestLinesOldestFirst()
    {
        await OpenAsync();
        AppendRange("dev", 1, 50);
        await FlushAsync();
        Assert.Equal(Range(31, 50), Ids(await PageAsync("dev", HistoryQuery.Latest(20))));
        Assert.Equal(Range(1, 50), Ids(await PageAsync("dev", HistoryQuery.Latest(500))));
        Assert.Empty(await PageAsync("dev", HistoryQuery.Latest(0)));
    }

    [Fact]
    public async Task BeforePagesBackwardsToTheFirstLineWithoutOverlap()
    {
        await OpenAsync();
        AppendRange("dev", 1, 50);
        await FlushAsync();
        Assert.Equal(Range(11, 30), Ids(await PageAsync("dev", new HistoryQuery(HistoryDirection.Before, 31, 20))));
        Assert.Equal(Range(1, 10), Ids(await PageAsync("dev", new HistoryQuery(HistoryDirection.Before, 11, 20))));
        Assert.Empty(await PageAsync("dev", new HistoryQuery(HistoryDirection.Before, 1, 20)));
        Assert.Equal(Range(48, 50), Ids(await PageAsync("dev", new HistoryQuery(HistoryDirection.Before, 1000, 3))));
    }

    [Fact]
    public async Task AfterPagesForwardToTheNewestLine()
    {
        await OpenAsync();
        AppendRange("dev", 1, 50);
        await FlushAsync();
        Assert.Equal(Range(1, 20), Ids(await PageAsync("dev", new HistoryQuery(HistoryDirection.After, 0, 20))));
        Assert.Equal(Range(21, 40), Ids(await PageAsync("dev", new HistoryQuery(HistoryDirection.After, 20, 20))));
        Assert.Equal(Range(41, 50), Ids(await PageAsync("dev", new HistoryQuery(HistoryDirection.After, 40, 20))));
        Assert.Empty(await PageAsync("dev", new HistoryQuery(HistoryDirection.After, 50, 20)));
    }

    [Fact]
    public async Task PagedLinesAreTheLinesAsSaidMarkedAsHistory()
    {
        await OpenAsync();
        var said = new ChatEvent(ChatEventType.Message, Start) { Room = "Dev", From = "张康", Text = "你好 \"quoted\"", Id = 1 };
        var action = new ChatEvent(ChatEventType.Action, Start.AddSeconds(1)) { Room = "Dev", From = "bob", Text = "waves", Id = 2 };
        History.Append("dev", said);
        History.Append("dev", action);
        await FlushAsync();
        var page = await PageAsync("dev", HistoryQuery.Latest(10));
        Assert.Equal([said with { History = true }, action with { History = true }], page);
        Assert.False(said.History); // the live line is not changed
    }

    [Fact]
    public async Task RoomsKeepTheirOwnLines()
    {
        await OpenAsync();
        AppendRange("dev", 1, 10);
        AppendRange("ops", 1, 3);
        await FlushAsync();
        var page = await PageAsync("ops", HistoryQuery.Latest(20));
        Assert.Equal(Range(1, 3), Ids(page));
        Assert.All(page, line => Assert.Equal("ops", line.Room));
        Assert.Empty(await PageAsync("qa", HistoryQuery.Latest(20)));
    }

    [Fact]
    public async Task TopicIsTheRoomsLatestTopicLine()
    {
        var history = await OpenAsync();
        Assert.Null(await history.TopicAsync("dev").DefaultTimeout());
        history.Append("dev", Topic("dev", 1, "first"));
        AppendRange("dev", 2, 3);
        history.Append("dev", Topic("dev", 4, "second"));
        history.Append("ops", Topic("ops", 1, "elsewhere"));
        await FlushAsync();
        var topic = await history.TopicAsync("dev").DefaultTimeout();
        Assert.Equal("second", topic?.Text);
        Assert.Equal(ChatEventType.Topic, topic?.Type);
        Assert.Equal("bob", topic?.From);
        Assert.Null(await history.TopicAsync("qa").DefaultTimeout());
    }

    [Fact]
    public async Task RetentionKeepsTheNewestLinesOfEachRoom()
    {
        await OpenAsync(keep: 10);
        AppendRange("dev", 1, 25);
        AppendRange("ops", 1, 4);
        await FlushAsync();
        await PruneAsync();
        Assert.Equal(Range(16, 25), Ids(await PageAsync("dev", HistoryQuery.Latest(100))));
        Assert.Equal(Range(16, 25), Ids(await PageAsync("dev", new HistoryQuery(HistoryDirection.After, 0, 100))));
        Assert.Equal(Range(1, 4), Ids(await PageAsync("ops", HistoryQuery.Latest(100))));
    }

    [Fact]
    public async Task TopicOutlivesTheLinesRetentionPrunes()
    {
        var history = await OpenAsync(keep: 3);
        history.Append("dev", Topic("dev", 1, "kept"));
        AppendRange("dev", 2, 20);
        await FlushAsync();
        await PruneAsync();
        Assert.Equal("kept", (await history.TopicAsync("dev").DefaultTimeout())?.Text);
    }

    [Fact]
    public async Task IdsCarryOnAboveEverythingPrunedAway()
    {
        var history = await OpenAsync(keep: 5);
        AppendRange("dev", 1, 20);
        await FlushAsync();
        await PruneAsync();
        Assert.Equal(Range(16, 20), Ids(await PageAsync("dev", HistoryQuery.Latest(100))));
        Assert.Equal(20, await history.LastIdAsync("dev").DefaultTimeout());
    }

    [Fact]
    public async Task ManyAppendsAreAllReadBackInOrderAfterAFlush()
    {
        await OpenAsync();
        AppendRange("dev", 1, 5_000); // several batches for the SQLite writer
        await FlushAsync();
        var seen = new List<long>();
        long after = 0;
        while (true)
        {
            var page = await PageAsync("dev", new HistoryQuery(HistoryDirection.After, after, 500));
            if (page.Count == 0)
            {
                break;
            }

            seen.AddRange(Ids(page));
            after = page[^1].Id!.Value;
        }

        Assert.Equal(Range(1, 5_000), seen);
    }
}

public sealed class HistoryContractMemoryTests : HistoryContractTests
{
    private protected override Task<IRoomHistory> CreateAsync(int keep) => Task.FromResult<IRoomHistory>(new MemoryRoomHistory(keep));
}

public sealed class HistoryContractSqliteTests : HistoryContractTests
{
    private readonly HistoryTempDirectory _directory = new();

    private SqliteRoomHistory Sqlite => (SqliteRoomHistory)History;

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _directory.Dispose();
    }

    private protected override async Task<IRoomHistory> CreateAsync(int keep) => await OpenSqliteAsync(_directory.File(), keep);

    private protected override Task FlushAsync() => Sqlite.FlushAsync().DefaultTimeout();

    private protected override Task PruneAsync() => Sqlite.PruneAsync().DefaultTimeout();

    [Fact]
    public async Task LinesTopicsAndIdsSurviveReopening()
    {
        var history = await OpenAsync();
        history.Append("dev", Topic("dev", 1, "persisted"));
        AppendRange("dev", 2, 30);
        history = await ReopenAsync();
        Assert.Equal(30, await history.LastIdAsync("dev").DefaultTimeout());
        Assert.Equal(Range(11, 30), Ids(await PageAsync("dev", HistoryQuery.Latest(20))));
        Assert.Equal("persisted", (await history.TopicAsync("dev").DefaultTimeout())?.Text);
        Assert.Equal(new HistoryStats(1, 30), await Sqlite.StatsAsync().DefaultTimeout());
    }

    [Fact]
    public async Task IdsCarryOnAfterEveryLineIsPrunedAndTheFileReopened()
    {
        await OpenAsync();
        var old = Start.AddDays(-200);
        for (long id = 1; id <= 40; id++)
        {
            History.Append("dev", Message("dev", id, at: old.AddSeconds(id)));
        }

        await FlushAsync();
        await History.DisposeAsync().AsTask().DefaultTimeout();
        // Everything is older than 90 days: the first prune after opening takes every line.
        var history = await OpenSqliteAsync(_directory.File(), keep: 0, days: 90);
        await using (history)
        {
            await history.PruneAsync().DefaultTimeout();
            Assert.Empty(await history.ReadAsync("dev", HistoryQuery.Latest(100)).DefaultTimeout());
            Assert.Equal(40, await history.LastIdAsync("dev").DefaultTimeout());
        }

        history = (SqliteRoomHistory)await OpenAsync();
        Assert.Equal(40, await history.LastIdAsync("dev").DefaultTimeout());
        Assert.Equal(new HistoryStats(1, 0), await history.StatsAsync().DefaultTimeout());
    }

    [Fact]
    public async Task RetentionByAgeKeepsRecentLines()
    {
        var history = await OpenSqliteAsync(_directory.File(), keep: 0, days: 90);
        await using (history)
        {
            var now = DateTimeOffset.UtcNow;
            for (long id = 1; id <= 10; id++)
            {
                history.Append("dev", Message("dev", id, at: now.AddDays(id <= 6 ? -100 : -1)));
            }

            await history.FlushAsync().DefaultTimeout();
            await history.PruneAsync().DefaultTimeout();
            Assert.Equal(Range(7, 10), Ids(await history.ReadAsync("dev", HistoryQuery.Latest(100)).DefaultTimeout()));
        }
    }

    [Fact]
    public async Task ClosingWritesWhatIsQueued()
    {
        await OpenAsync();
        AppendRange("dev", 1, 3_000);
        var history = await ReopenAsync(); // no flush: DisposeAsync drains the queue
        Assert.Equal(Range(2_901, 3_000), Ids(await PageAsync("dev", HistoryQuery.Latest(100))));
        Assert.Equal(3_000, await history.LastIdAsync("dev").DefaultTimeout());
    }
}
