using Microsoft.Data.Sqlite;
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
}
