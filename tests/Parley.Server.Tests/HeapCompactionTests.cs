using System.Diagnostics.Metrics;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public sealed class HeapCompactionTests
{
    [Fact]
    public async Task ACrowdIsFollowedByOneCompactionWhenItArrivesAndOneWhenItLeaves()
    {
        long compactions = 0;
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Parley.Server" && instrument.Name == "parley.heap.compactions")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) =>
        {
            long now = Interlocked.Add(ref compactions, value);
            (now == 1 ? first : second).TrySetResult();
        });
        listener.Start();

        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o => o.CompactAfterConnections = 40);
        var crowd = new List<LineClient>();
        try
        {
            for (int i = 0; i < 50; i++)
            {
                crowd.Add(await server.ConnectAsync());
            }

            // Two quiet seconds after the last arrival, one compaction; none more while nothing changes.
            await first.Task.DefaultTimeout();
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.Equal(1, Interlocked.Read(ref compactions));
        }
        finally
        {
            foreach (var client in crowd)
            {
                await client.DisposeAsync();
            }
        }

        await second.Task.DefaultTimeout();
        Assert.Equal(2, Interlocked.Read(ref compactions));
    }
}
