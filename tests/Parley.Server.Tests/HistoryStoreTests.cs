using Microsoft.Data.Sqlite;
using Parley.Protocol.Chat;
using Parley.Server.History;
using Parley.Testing;
using static Parley.Server.Tests.HistoryLines;

namespace Parley.Server.Tests;

/// <summary>The SQLite store's own promises beyond the contract, and where its file lives.</summary>
public sealed class HistoryStoreTests : IDisposable
{
    private readonly HistoryTempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task LinesStillQueuedForTheDiskAreInPages()
    {
        string path = _directory.File();
        await using var history = await OpenSqliteAsync(path);
        history.Append("dev", Message("dev", 1));
        await history.FlushAsync().DefaultTimeout();

        // Another connection holds the write lock, so the writer's next batch waits (up to its busy timeout).
        await using var blocker = new SqliteConnection($"Data Source={path};Pooling=False");
        await blocker.OpenAsync();
        await using var transaction = (SqliteTransaction)await blocker.BeginTransactionAsync(); // BEGIN IMMEDIATE
        history.Append("dev", Message("dev", 2));
        history.Append("dev", Message("dev", 3));

        Assert.Equal(Range(1, 3), Ids(await history.ReadAsync("dev", HistoryQuery.Latest(10)).DefaultTimeout()));
        Assert.Equal(Range(2, 3), Ids(await history.ReadAsync("dev", new HistoryQuery(HistoryDirection.After, 1, 10)).DefaultTimeout()));
        Assert.Equal(new long[] { 1 }, Ids(await history.ReadAsync("dev", new HistoryQuery(HistoryDirection.Before, 2, 10)).DefaultTimeout()));
        Assert.Equal(Range(2, 3), Ids(await history.ReadAsync("dev", HistoryQuery.Latest(2)).DefaultTimeout()));
        Assert.All(await history.ReadAsync("dev", HistoryQuery.Latest(10)).DefaultTimeout(), line => Assert.True(line.History));
        Assert.Equal(3, await history.LastIdAsync("dev").DefaultTimeout());

        await transaction.RollbackAsync();
        await history.FlushAsync().DefaultTimeout();
        Assert.Equal(Range(1, 3), Ids(await history.ReadAsync("dev", HistoryQuery.Latest(10)).DefaultTimeout()));
    }

    [Fact]
    public async Task FullQueueDropsTheLineButNotItsId()
    {
        string path = _directory.File();
        var tuning = new SqliteHistoryTuning { QueueCapacity = 4 };
        await using (var history = await OpenSqliteAsync(path, tuning: tuning))
        {
            await using var blocker = new SqliteConnection($"Data Source={path};Pooling=False");
            await blocker.OpenAsync();
            await using (var transaction = (SqliteTransaction)await blocker.BeginTransactionAsync())
            {
                // The writer takes the first line and waits on the lock; four more fill the queue; the rest are dropped.
                for (long id = 1; id <= 20; id++)
                {
                    history.Append("dev", Message("dev", id));
                }

                Assert.Equal(20, await history.LastIdAsync("dev").DefaultTimeout());
                await transaction.RollbackAsync();
            }

            await history.FlushAsync().DefaultTimeout();
            Assert.True((await history.ReadAsync("dev", HistoryQuery.Latest(100)).DefaultTimeout()).Count < 20);
        }

        await using var reopened = await OpenSqliteAsync(path);
        Assert.Equal(20, await reopened.LastIdAsync("dev").DefaultTimeout());
    }

    [Fact]
    public async Task OpeningCreatesTheDirectoryAndTheFile()
    {
        string path = Path.Combine(_directory.Path, "deep", "er", "history.db");
        await using var history = await OpenSqliteAsync(path);
        Assert.True(File.Exists(path));
        Assert.Equal(path, history.Path);
        Assert.Equal(new HistoryStats(0, 0), await history.StatsAsync().DefaultTimeout());
    }

    [Fact]
    public void DefaultLocationIsBesideTheConfigFile()
    {
        string config = Path.Combine(_directory.Path, "parley.json");
        Assert.Equal(Path.Combine(_directory.Path, "history.db"), HistoryLocation.Default(config, "/xdg", "/home/u"));
    }

    [Fact]
    public void DefaultLocationIsTheUsersDataDirectory()
    {
        Assert.Equal("/xdg/parley/history.db", HistoryLocation.Default(null, "/xdg", "/home/u"));
        Assert.Equal("/home/u/.local/share/parley/history.db", HistoryLocation.Default(null, null, "/home/u"));
        Assert.Equal("/home/u/.local/share/parley/history.db", HistoryLocation.Default(null, "relative/ignored", "/home/u"));
        Assert.Throws<HistoryUnavailableException>(() => HistoryLocation.Default(null, null, ""));
    }
    [Fact]
    public async Task LinesThatReachTheWriterLateAreReadInIdOrder()
    {
        // Two publishers in one room: ids 5 and 6 were given before 7 to 10 but appended after them, with a write
        // in between. Every page must still be in id order, with each line once.
        await using var history = await OpenSqliteAsync(_directory.File());
        foreach (long id in (long[])[1, 2, 3, 4, 7, 8, 9, 10])
        {
            history.Append("dev", Message("dev", id));
        }

        await history.FlushAsync().DefaultTimeout();
        history.Append("dev", Message("dev", 6));
        history.Append("dev", Message("dev", 5));
        await history.FlushAsync().DefaultTimeout();
        history.Append("dev", Message("dev", 11));
        await history.FlushAsync().DefaultTimeout();

        Assert.Equal(Range(1, 11), Ids(await history.ReadAsync("dev", HistoryQuery.Latest(100)).DefaultTimeout()));
        Assert.Equal(Range(5, 7), Ids(await history.ReadAsync("dev", new HistoryQuery(HistoryDirection.Before, 8, 3)).DefaultTimeout()));
        Assert.Equal(Range(5, 7), Ids(await history.ReadAsync("dev", new HistoryQuery(HistoryDirection.After, 4, 3)).DefaultTimeout()));
        Assert.Equal(Range(9, 11), Ids(await history.ReadAsync("dev", HistoryQuery.Latest(3)).DefaultTimeout()));
        Assert.Equal(new HistoryStats(1, 11), await history.StatsAsync().DefaultTimeout());
    }

    [Fact]
    public async Task AFileOfTheOneRowALineSchemaIsReadAfterItsUpgrade()
    {
        string path = _directory.File();
        await ExecuteSqlAsync(path, """
                CREATE TABLE lines (room TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL, ts INTEGER NOT NULL,
                    "from" TEXT NOT NULL, text TEXT NOT NULL, room_name TEXT NOT NULL, PRIMARY KEY (room, id)) WITHOUT ROWID;
                CREATE TABLE rooms (room TEXT NOT NULL PRIMARY KEY, last_id INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE topics (room TEXT NOT NULL PRIMARY KEY, id INTEGER, type TEXT NOT NULL, ts INTEGER NOT NULL,
                    "from" TEXT NOT NULL, text TEXT NOT NULL, room_name TEXT NOT NULL) WITHOUT ROWID;
                CREATE TABLE meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                INSERT INTO rooms VALUES ('dev', 300), ('ops', 2);
                WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < 300)
                INSERT INTO lines SELECT 'dev', id, CASE WHEN id = 7 THEN 'action' ELSE 'message' END, 1764445212345 + id,
                    'alice', 'line ' || id || ' in Dev', 'Dev' FROM n;
                INSERT INTO lines VALUES ('ops', 1, 'message', 1764445212345, 'bob', 'hé ✓', 'ops'), ('ops', 2, 'message', 1764445212346, 'bob', '', 'ops');
                PRAGMA user_version = 1;
                """);

        await using var history = await OpenSqliteAsync(path);
        Assert.Equal(new HistoryStats(2, 302), await history.StatsAsync().DefaultTimeout());
        Assert.Equal(Range(1, 300), Ids(await history.ReadAsync("dev", new HistoryQuery(HistoryDirection.After, 0, 500)).DefaultTimeout()));
        var seventh = (await history.ReadAsync("dev", new HistoryQuery(HistoryDirection.Before, 8, 1)).DefaultTimeout()).Single();
        Assert.Equal((ChatEventType.Action, "alice", "line 7 in Dev", "Dev", 1764445212352L), (seventh.Type, seventh.From, seventh.Text, seventh.Room, seventh.Timestamp.ToUnixTimeMilliseconds()));
        Assert.Equal(["hé ✓", ""], (await history.ReadAsync("ops", HistoryQuery.Latest(10)).DefaultTimeout()).Select(line => line.Text));
        Assert.Equal(300, await history.LastIdAsync("dev").DefaultTimeout());
    }
    [Fact]
    public async Task ABlockThisVersionCannotReadFailsTheReadNotTheServer()
    {
        string path = _directory.File();
        await using var history = await OpenSqliteAsync(path);
        history.Append("dev", Message("dev", 1));
        await history.FlushAsync().DefaultTimeout();
        Assert.Equal(1, await ExecuteSqlAsync(path, "UPDATE blocks SET data = x'09ff'"));

        Assert.Empty(await history.ReadAsync("dev", HistoryQuery.Latest(10)).DefaultTimeout());
        Assert.False(history.IsAvailable); // members are told history is unavailable rather than shown a silent gap
    }
}
