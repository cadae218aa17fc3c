using System.Diagnostics.Metrics;
using Microsoft.Data.Sqlite;
using Parley.Server.History;
using Parley.Server.Hosting;
using Parley.Server.Logging;
using Parley.Testing;
using static Parley.Server.Tests.HistoryLines;

namespace Parley.Server.Tests;

/// <summary>Lines relayed but not kept in history are never lost silently: the room is told, once per episode.</summary>
public sealed class HistoryLossTests : IDisposable
{
    private readonly HistoryTempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [HistoryMountFact]
    public async Task RoomIsToldOnceWhenItsLinesCannotBeWritten()
    {
        long notices = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ParleyMetrics.MeterName && instrument.Name == "parley.history.loss_notices")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref notices, value));
        listener.Start();

        string mount = _directory.MountTmpfs("fills", "2m");
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, options =>
        {
            options.History = HistoryMode.Sqlite;
            options.HistoryPath = Path.Combine(mount, "history.db");
            options.RateLimit = 0;
        });
        await using var alice = await server.JoinChatAsync("alice");
        await using var bob = await server.JoinChatAsync("bob");
        await alice.ExpectLineAsync("* bob joined #lobby");
        HistoryFaultTests.Fill(mount);

        // Until the disk refuses a write (the log may have room for a few pages yet), then as many again: bob sees
        // every line, and one notice among them.
        string text = new('x', 3000);
        int sent = 0;
        bool told = false;
        while (!told)
        {
            Assert.True(sent < 2_000, "no notice after 2,000 lines on a full disk");
            await alice.SendLineAsync($"{++sent} {text}");
            while (true)
            {
                string line = await bob.ExpectLineAsync(line => line.StartsWith("<alice> ", StringComparison.Ordinal) || line.StartsWith("* ", StringComparison.Ordinal), "a line from alice or a notice");
                if (line.StartsWith("* ", StringComparison.Ordinal))
                {
                    Assert.Equal("* the history of #lobby is unavailable right now: lines said here are not being kept (chat goes on)", line);
                    told = true;
                    continue;
                }

                Assert.StartsWith($"<alice> {sent} ", line, StringComparison.Ordinal);
                break;
            }
        }

        int last = sent + 30;
        while (sent < last)
        {
            await alice.SendLineAsync($"{++sent} {text}");
            // Two writer batches a second at most: let a few fail while the room keeps talking.
            await Task.Delay(50);
        }

        await alice.SendLineAsync("/ping done");
        await alice.ExpectLineAsync(line => line.Contains("pong done", StringComparison.Ordinal), "the pong");
        for (int expected = sent - 30 + 1; expected <= sent; expected++)
        {
            string line = await bob.ReadLineAsync() ?? throw new InvalidOperationException("bob's connection closed");
            Assert.StartsWith($"<alice> {expected} ", line, StringComparison.Ordinal); // no second notice in between
        }

        Assert.Equal(1, Interlocked.Read(ref notices));
        var history = (IRoomHistory?)server.Server.Services.GetService(typeof(IRoomHistory));
        Assert.NotNull(history);
        Assert.False(history.IsAvailable);
    }

    [Fact]
    public async Task FullQueueIsReportedOnceABatchNotOnceALine()
    {
        string path = _directory.File();
        await using var history = await OpenSqliteAsync(path, tuning: new SqliteHistoryTuning { QueueCapacity = 4 });
        var losses = new List<HistoryLoss>();
        history.LinesNotKept += loss =>
        {
            lock (losses)
            {
                losses.Add(loss);
            }
        };

        await using (var blocker = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await blocker.OpenAsync();
            await using var transaction = (SqliteTransaction)await blocker.BeginTransactionAsync();
            for (long id = 1; id <= 20; id++)
            {
                history.Append("dev", Message("dev", id));
            }

            Assert.Equal([new HistoryLoss("dev", HistoryLossReason.QueueFull)], losses);
            await transaction.RollbackAsync();
        }

        // Once the writer has taken the loss up, a line lost later is a loss to report again.
        await history.FlushAsync().DefaultTimeout();
        await using (var blocker = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await blocker.OpenAsync();
            await using var transaction = (SqliteTransaction)await blocker.BeginTransactionAsync();
            for (long id = 21; id <= 40; id++)
            {
                history.Append("dev", Message("dev", id));
            }

            await transaction.RollbackAsync();
        }

        await history.FlushAsync().DefaultTimeout();
        Assert.Equal(2, losses.Count);
    }
}
