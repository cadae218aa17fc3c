using System.Diagnostics;
using Parley.Protocol.Chat;
using Parley.Server.History;
using Parley.Testing;
using Xunit.Abstractions;
using static Parley.Server.Tests.HistoryLines;

namespace Parley.Server.Tests;

/// <summary>
/// Figures for docs/history.md, not a timed test: it asserts only that the pages are right and prints the times.
/// Run with <c>PARLEY_HISTORY_MEASURE=1 dotnet test tests/Parley.Server.Tests -c Release --filter HistoryMeasurements
/// --logger "console;verbosity=detailed"</c>.
/// </summary>
public sealed class HistoryMeasurements(ITestOutputHelper output) : IDisposable
{
    private const int Lines = 1_000_000;

    private readonly HistoryTempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [HistoryMeasureFact]
    public async Task MillionLinesInOneRoom()
    {
        string path = _directory.File();
        await using (var history = await OpenSqliteAsync(path))
        {
            // Typical chat lines, about 60 bytes of text; appended as fast as one thread can, the way a busy room's
            // relay would if every line were kept.
            var clock = Stopwatch.StartNew();
            for (long id = 1; id <= Lines; id++)
            {
                history.Append("dev", Message("dev", id, $"line {id}: the quick brown fox jumps over the lazy dog"));
                if (id % 8_192 == 0)
                {
                    // Every half queue, wait for the disk: this measures what the writer sustains, not lines dropped.
                    await history.FlushAsync().DefaultTimeout();
                }
            }

            await history.FlushAsync().DefaultTimeout(TimeSpan.FromMinutes(5));
            clock.Stop();
            var stats = await history.StatsAsync().DefaultTimeout();
            Assert.Equal(new HistoryStats(1, Lines), stats);
            output.WriteLine($"append+write: {Lines:N0} lines in {clock.Elapsed.TotalSeconds:F2} s = {Lines / clock.Elapsed.TotalSeconds:N0} lines/s; file {new FileInfo(path).Length / 1e6:F0} MB + WAL");
        }

        // Reopened, so the pages come from the file (and the page cache), not from anything queued.
        await using var reopened = await OpenSqliteAsync(path);
        var random = new Random(7);
        Measure("before 500", () => reopened.ReadAsync("dev", new HistoryQuery(HistoryDirection.Before, random.Next(1_000, Lines), 500)), 500);
        Measure("after 500", () => reopened.ReadAsync("dev", new HistoryQuery(HistoryDirection.After, random.Next(1, Lines - 1_000), 500)), 500);
        Measure("latest 20 (join replay)", () => reopened.ReadAsync("dev", HistoryQuery.Latest(20)), 20);
        var last = Stopwatch.StartNew();
        Assert.Equal(Lines, await reopened.LastIdAsync("dev").DefaultTimeout());
        output.WriteLine($"last id: {last.Elapsed.TotalMilliseconds:F3} ms");
        var prune = Stopwatch.StartNew();
        await reopened.PruneAsync().DefaultTimeout(TimeSpan.FromMinutes(2));
        output.WriteLine($"prune run with nothing to prune: {prune.Elapsed.TotalMilliseconds:F1} ms");
    }

    [HistoryMeasureFact]
    public async Task CpuPerLineKept()
    {
        // What keeping a line costs the process in CPU (the relay's Append plus the writer's share), the figure that
        // decides how much history slows a saturated fan-out: wall-clock rates on a shared 2-core machine drift.
        const int Count = 300_000;
        await using var history = await OpenSqliteAsync(_directory.File());
        var lines = new ChatEvent[Count];
        for (int i = 0; i < Count; i++)
        {
            lines[i] = Message("dev", i + 1, $"line {i + 1}: the quick brown fox jumps over the lazy dog");
        }

        // Warm first (the JIT's tiers, SQLite's page cache), as a server is after its first minute.
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < Count; i++)
            {
                history.Append($"warm{round}", lines[i] with { Room = $"warm{round}" });
                if (i % 8_192 == 0)
                {
                    await history.FlushAsync().DefaultTimeout();
                }
            }
        }

        await history.FlushAsync().DefaultTimeout();
        await Task.Delay(500);
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        var appending = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < Count; i += 8_192)
        {
            var append = Stopwatch.StartNew();
            for (int j = i; j < Math.Min(Count, i + 8_192); j++)
            {
                history.Append("dev", lines[j]);
            }

            appending += append.Elapsed;
            await history.FlushAsync().DefaultTimeout();
        }

        clock.Stop();
        process.Refresh();
        double cpuUs = (process.TotalProcessorTime - cpuBefore).TotalMicroseconds / Count;
        Assert.Equal(new HistoryStats(4, 4 * Count), await history.StatsAsync().DefaultTimeout());
        output.WriteLine($"cpu per line kept: {cpuUs:F2} us (Append on the caller's thread {appending.TotalMicroseconds / Count:F2} us); {Count / clock.Elapsed.TotalSeconds:N0} lines/s wall");
    }

    private void Measure(string what, Func<ValueTask<IReadOnlyList<ChatEvent>>> read, int expected)
    {
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(expected, read().AsTask().GetAwaiter().GetResult().Count); // warm: statements prepared, pages cached
        }

        var times = new List<double>();
        for (int i = 0; i < 200; i++)
        {
            var clock = Stopwatch.StartNew();
            var page = read().AsTask().GetAwaiter().GetResult();
            times.Add(clock.Elapsed.TotalMilliseconds);
            Assert.Equal(expected, page.Count);
        }

        times.Sort();
        output.WriteLine($"{what}: p50 {times[100]:F3} ms, p99 {times[198]:F3} ms, max {times[^1]:F3} ms (200 reads)");
    }
}

/// <summary>Runs only when PARLEY_HISTORY_MEASURE=1: a minute of disk work is not for every test run.</summary>
internal sealed class HistoryMeasureFactAttribute : FactAttribute
{
    public HistoryMeasureFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("PARLEY_HISTORY_MEASURE") != "1")
        {
            Skip = "a measurement for docs/history.md; set PARLEY_HISTORY_MEASURE=1 to run it";
        }
    }
}
