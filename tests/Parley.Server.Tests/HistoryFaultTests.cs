using System.Diagnostics;
using System.Diagnostics.Metrics;
using Parley.Server.History;
using Parley.Server.Logging;
using Parley.Testing;
using static Parley.Server.Tests.HistoryLines;

namespace Parley.Server.Tests;

/// <summary>The SQLite store's faults: refused at start with one line, or at run time logged, counted and survived.</summary>
public sealed class HistoryFaultTests : IDisposable
{
    private readonly HistoryTempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task CorruptFileIsRefusedWithOneClearLine()
    {
        string path = _directory.File();
        var garbage = new byte[16 * 1024];
        new Random(12).NextBytes(garbage);
        await File.WriteAllBytesAsync(path, garbage);
        string message = await RefusalAsync(path);
        Assert.Contains(path, message, StringComparison.Ordinal);
        Assert.Contains("not a usable SQLite database", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnotherProgramsDatabaseIsRefusedAndLeftAlone()
    {
        string path = _directory.File();
        await ExecuteSqlAsync(path, "CREATE TABLE accounts (name TEXT)");

        Assert.Contains("not a parley history", await RefusalAsync(path), StringComparison.Ordinal);
    }

    [Fact]
    public async Task FileOpenInAnotherStoreIsRefusedUntilItCloses()
    {
        string path = _directory.File();
        var first = await OpenSqliteAsync(path);
        await using (first)
        {
            Assert.Contains("in use by another parley server", await RefusalAsync(path), StringComparison.Ordinal);
        }

        await using var second = await OpenSqliteAsync(path);
        Assert.True(second.IsAvailable);
    }

    [Fact]
    public async Task FileLockedByAnotherProcessIsRefused()
    {
        // flock(1) takes the same kind of lock another parley serve's store holds, from another process.
        string path = _directory.File();
        using var holder = Process.Start(new ProcessStartInfo("flock", ["--exclusive", path + ".lock", "sleep", "60"]))!;
        try
        {
            using var deadline = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
            string? message = null;
            while (message is null)
            {
                // flock starts asynchronously: until it holds the lock, the store opens (and is closed again here).
                try
                {
                    await using var opened = await OpenSqliteAsync(path);
                    await Task.Yield();
                    deadline.Token.ThrowIfCancellationRequested();
                }
                catch (HistoryUnavailableException)
                {
                    message = await RefusalAsync(path);
                }
            }

            Assert.Contains("in use by another parley server", message, StringComparison.Ordinal);
        }
        finally
        {
            holder.Kill();
            await holder.WaitForExitAsync().DefaultTimeout();
        }
    }

    [Fact]
    public async Task PathUnderAFileIsRefusedNamingThatFile()
    {
        // chmod does not stop root; a file where a directory should be stops everyone (ENOTDIR).
        string blocker = _directory.File("not-a-directory");
        await File.WriteAllTextAsync(blocker, "x");
        string message = await RefusalAsync(Path.Combine(blocker, "history.db"));
        Assert.Contains($"{blocker} is a file", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DirectoryRootCannotWriteIsRefused()
    {
        // sysfs refuses to create files even for root (EACCES), unlike a chmod-ed directory.
        string message = await RefusalAsync("/sys/parley-history-test/history.db");
        Assert.Contains("cannot make the directory /sys/parley-history-test", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PathThatIsADirectoryIsRefused()
    {
        Assert.Contains("is a directory", await RefusalAsync(_directory.Path), StringComparison.Ordinal);
    }

    [HistoryMountFact]
    public async Task ReadOnlyFileSystemIsRefused()
    {
        string mount = _directory.MountTmpfs("ro", "1m");
        string path = Path.Combine(mount, "history.db");
        await using (var history = await OpenSqliteAsync(path))
        {
            history.Append("dev", Message("dev", 1));
        }

        HistoryRoot.Run("mount", $"-o remount,ro {mount}");
        Assert.Contains("read-only", await RefusalAsync(path), StringComparison.Ordinal);
    }

    [HistoryMountFact]
    public async Task FullDiskIsRefused()
    {
        string mount = _directory.MountTmpfs("full", "512k");
        Fill(mount);
        Assert.Contains("is full", await RefusalAsync(Path.Combine(mount, "history.db")), StringComparison.Ordinal);
    }

    [HistoryMountFact]
    public async Task WritesFailingAtRunTimeAreCountedAndHistoryComesBack()
    {
        string mount = _directory.MountTmpfs("fills", "2m");
        long failures = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ParleyMetrics.MeterName && instrument.Name == "parley.history.write_failures")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref failures, value));
        listener.Start();

        var tuning = new SqliteHistoryTuning { RetryDelay = TimeSpan.Zero };
        await using var history = await OpenSqliteAsync(Path.Combine(mount, "history.db"), tuning: tuning);
        string filler = Fill(mount);
        string text = new('x', 4000);
        long id = 0;
        for (int i = 0; i < 1_000 && history.IsAvailable; i++)
        {
            history.Append("dev", Message("dev", ++id, text));
            await history.FlushAsync().DefaultTimeout();
        }

        Assert.False(history.IsAvailable);
        Assert.True(Interlocked.Read(ref failures) > 0);

        File.Delete(filler);
        history.Append("dev", Message("dev", ++id, "after the disk was freed"));
        await history.FlushAsync().DefaultTimeout();
        Assert.True(history.IsAvailable);
        Assert.Equal("after the disk was freed", (await history.ReadAsync("dev", HistoryQuery.Latest(1)).DefaultTimeout()).Single().Text);
    }

    /// <summary>Writes a file until the disk is full and returns its path.</summary>
    internal static string Fill(string directory)
    {
        string filler = Path.Combine(directory, "filler");
        using var stream = new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        var block = new byte[4096];
        try
        {
            while (true)
            {
                stream.Write(block);
            }
        }
        catch (IOException)
        {
            return filler; // no space left
        }
    }
}
