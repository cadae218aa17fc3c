using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public sealed class HeapCompactionTests
{
    [Fact]
    public async Task ACrowdThatArrivesIsFollowedByOneCompaction()
    {
        using var compactions = new CompactionCounter();
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o => o.CompactAfterConnections = 40);
        var crowd = new List<LineClient>();
        try
        {
            for (int i = 0; i < 50; i++)
            {
                crowd.Add(await server.ConnectAsync());
            }

            // Two quiet seconds after the last arrival, one compaction; none more while nothing changes.
            await compactions.First.DefaultTimeout();
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.Equal(1, compactions.Count);
        }
        finally
        {
            foreach (var client in crowd)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ACrowdThatComesAndGoesBuysAPauseAtMostOnceAMinimumGap()
    {
        using var compactions = new CompactionCounter();
        var time = new FakeTimeProvider();
        var options = new ServerOptions { CompactAfterConnections = 40 };
        using var limiter = new ConnectionLimiter(options);
        using var compaction = new HeapCompaction(limiter, options, time, NullLogger<HeapCompaction>.Instance);
        await compaction.StartAsync(CancellationToken.None);
        var remote = new IPEndPoint(IPAddress.Loopback, 40000);

        void Arrive()
        {
            for (int i = 0; i < 50; i++)
            {
                Assert.Null(limiter.TryAcquire(remote));
            }
        }

        void Leave()
        {
            for (int i = 0; i < 50; i++)
            {
                limiter.Release(remote);
            }
        }

        async Task Tick(int seconds)
        {
            for (int i = 0; i < seconds; i++)
            {
                time.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(10); // the timer's continuation runs on the pool
            }
        }

        // Fake seconds go by until the compaction is seen (the loop's ticks run on the pool and may lag the fake clock).
        async Task<TimeSpan> TickUntil(Task compacted, int mostSeconds)
        {
            var from = time.GetUtcNow();
            for (int i = 0; i < mostSeconds && !compacted.IsCompleted; i++)
            {
                await Tick(1);
            }

            await compacted.DefaultTimeout();
            return time.GetUtcNow() - from;
        }

        Arrive();
        await TickUntil(compactions.First, 20);
        var sinceFirst = time.GetUtcNow();

        // Gone, back, gone again: each settles for longer than two ticks, but within the gap none is compacted.
        Leave();
        await Tick(4);
        Arrive();
        await Tick(4);
        Leave();
        await Tick(4);
        Assert.Equal(1, compactions.Count);

        await TickUntil(compactions.Second, 60);
        Assert.True(time.GetUtcNow() - sinceFirst >= HeapCompaction.MinimumGap);
        Assert.Equal(2, compactions.Count);
        await compaction.StopAsync(CancellationToken.None);
    }

    // Counts compactions by the server's metric; tests in parallel do not compact (the default needs 2,000 connections).
    private sealed class CompactionCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _second = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _count;

        public CompactionCounter()
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Parley.Server" && instrument.Name == "parley.heap.compactions")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) =>
            {
                long now = Interlocked.Add(ref _count, value);
                (now == 1 ? _first : _second).TrySetResult();
            });
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        public Task First => _first.Task;

        public Task Second => _second.Task;

        public void Dispose() => _listener.Dispose();
    }
}
