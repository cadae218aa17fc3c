using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using HdrHistogram;
using static Parley.Cli.Bench.FanoutBench;

namespace Parley.Cli.Bench;

/// <summary>
/// The fan-out of <see cref="FanoutBench"/> through the web front end (<c>--protocol ws</c>): N WebSockets on the
/// server's <c>--web</c> port in one room, P publishing one line per frame, each delivery one JSON event per frame.
/// The lines, the batches of 64 per send and the closed-loop window are the TCP run's, so the two figures compare the
/// front ends, not the loads.
/// </summary>
internal static class WebSocketFanoutBench
{
    // Lines per send, as on TCP: each its own frame, the frames of a batch in one send.
    private const int Batch = 64;

    public static async Task<BenchReport> RunAsync(IPEndPoint target, int members, int publishers, int size, TimeSpan duration, TimeSpan setupLimit, CancellationToken cancellation)
    {
        publishers = Math.Min(publishers, members);
        string room = $"bench-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}";
        using var setup = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        setup.CancelAfter(setupLimit);
        var sockets = new BenchWebSocket[members];
        var run = new Run(members);
        var receivers = new Task<LongHistogram>[members];
        try
        {
            for (int start = 0; start < members; start += 50)
            {
                await Task.WhenAll(Enumerable.Range(start, Math.Min(50, members - start)).Select(async i =>
                {
                    sockets[i] = await BenchWebSocket.ConnectAsync(target, setup.Token);
                    await sockets[i].SendTextAsync(setup.Token, $"/join {room}", "/ping ready");
                    receivers[i] = Task.Run(() => ReceiveAsync(sockets[i], i, run));
                }));
            }

            await run.State.WaitUntilReadyAsync(setup.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or SocketException or Parley.Client.ConnectException && !cancellation.IsCancellationRequested)
        {
            Close(sockets);
            return new BenchReport("fanout").Add("protocol", "ws").Add("members", members).Add("publishers", publishers)
                .Add("error", $"only {run.State.ReadyCount} of {members} members were in the room after {setupLimit.TotalSeconds:0} s ({ex.Message})");
        }

        // The window is per member, not in all as on TCP: JSON events are two to three times the size of text lines,
        // and one member that fell a whole room's window behind (1,000 lines × N) would pass the server's backlog and
        // be cut off as too slow.
        const long window = 1000;
        using (var warmup = CancellationTokenSource.CreateLinkedTokenSource(cancellation))
        {
            warmup.CancelAfter(WarmupTime);
            await PublishAllAsync(sockets, publishers, size, window, run, warmup.Token, cancellation);
            await run.State.DrainAsync(Interlocked.Read(ref run.State.Sent) * (members - 1), TimeSpan.FromSeconds(2), WarmupTime, cancellation);
            run.StartMeasuring();
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var clock = Stopwatch.StartNew();
        using (new BenchProgress(() => $"fanout (ws): {clock.Elapsed.TotalSeconds:0}s {Interlocked.Read(ref run.Measured) / Math.Max(1, clock.Elapsed.TotalSeconds):0} deliveries/s"))
        {
            stop.CancelAfter(duration);
            await PublishAllAsync(sockets, publishers, size, window, run, stop.Token, cancellation);
            double publishSeconds = clock.Elapsed.TotalSeconds;
            long expected = Interlocked.Read(ref run.State.Sent) * (members - 1);
            await run.DrainAsync(expected, TimeSpan.FromSeconds(5), MaxDrain, cancellation);
            long delivered = Interlocked.Read(ref run.Measured);
            Close(sockets);
            var latency = Latency.Merge(await Task.WhenAll(receivers));
            return new BenchReport("fanout")
                .Add("protocol", "ws")
                .Add("members", members).Add("publishers", publishers).Add("size", size)
                .Add("rate_per_publisher", "max")
                .Add("seconds", Math.Round(publishSeconds, 2))
                .Add("sent", Interlocked.Read(ref run.State.Sent))
                .Add("expected", expected)
                .Add("delivered", delivered)
                .Add("lost", Math.Max(0, expected - delivered))
                .Add("deliveries_per_s", Math.Round(delivered / publishSeconds))
                .AddLatency("latency", latency);
        }
    }

    private static void Close(BenchWebSocket?[] sockets)
    {
        foreach (var socket in sockets)
        {
            socket?.Dispose();
        }
    }

    private static Task PublishAllAsync(BenchWebSocket[] sockets, int publishers, int size, long window, Run run, CancellationToken stop, CancellationToken cancellation) =>
        Task.WhenAll(Enumerable.Range(0, publishers).Select(p => Task.Run(() => PublishAsync(sockets[p], p, size, window, run, stop, cancellation))));

    // Flat out within the window. The end of the run stops a publisher between sends, never in one: a send cut off
    // half way would leave a partial frame on the connection, and ClientWebSocket, which this bench used before,
    // aborts the whole socket when a send is cancelled. That took the publisher's member out of the room with its
    // deliveries still on the way, and the count came out short: a line per run, or one member's every line
    // (docs/benchmarks.md). Only a server that stops reading altogether is given up on, when the drain time ends.
    private static async Task PublishAsync(BenchWebSocket socket, int publisher, int size, long window, Run run, CancellationToken stop, CancellationToken cancellation)
    {
        long sequence = 0;
        var line = new byte[size];
        int frameLength = BenchWebSocket.FrameLength(size - 1);
        var frames = new byte[frameLength * Batch];
        using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var afterStop = stop.Register(() => giveUp.CancelAfter(MaxDrain));
        while (!stop.IsCancellationRequested)
        {
            if (run.MostBehind() > window)
            {
                await Task.Delay(1, CancellationToken.None);
                continue;
            }

            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < Batch; i++)
            {
                Format(line, publisher, sequence++, now);
                BenchWebSocket.WriteTextFrame(frames.AsSpan(i * frameLength), line.AsSpan(0, size - 1));
            }

            try
            {
                await socket.SendAsync(frames, giveUp.Token);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                return;
            }

            run.Published(publisher, Batch);
        }
    }

    private static async Task<LongHistogram> ReceiveAsync(BenchWebSocket socket, int member, Run run)
    {
        var histogram = Latency.NewHistogram();
        bool ready = false;
        long delivered = 0;
        long measured = 0;
        try
        {
            await socket.ReceiveAsync(
                frame =>
                {
                    int marker = frame.IndexOf(Marker);
                    if (marker >= 0 && TryReadTimestamp(frame[(marker + Marker.Length)..], out long sentAt))
                    {
                        if (sentAt >= run.Epoch)
                        {
                            histogram.RecordValue(Latency.Microseconds(Stopwatch.GetTimestamp() - sentAt));
                            measured++;
                        }

                        delivered++;
                    }
                    else if (!ready && frame.IndexOf("\"type\":\"pong\""u8) >= 0)
                    {
                        ready = true;
                        run.State.MemberReady();
                    }
                },
                () =>
                {
                    // Counted once per read, not per frame: a shared counter touched per delivery costs more than the parsing.
                    run.Received(member, delivered, measured);
                    delivered = 0;
                    measured = 0;
                });
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or WebSocketException)
        {
            // Closed at the end of the run.
        }

        return histogram;
    }

    /// <summary>The counts of one run: what each member received, and which lines belong to the measured part.</summary>
    private sealed class Run(int members)
    {
        private readonly long[] _received = new long[members];
        private readonly long[] _own = new long[members];

        // Lines sent before this Stopwatch timestamp belong to the warm-up: no latency sample, and not counted in the
        // run's deliveries (a slow front end can still be delivering the warm-up's lines when the run starts).
        private long _epoch = long.MaxValue;

        public long Measured;

        public FanoutState State { get; } = new(members);

        public long Epoch => Volatile.Read(ref _epoch);

        public void StartMeasuring()
        {
            State.Reset();
            Interlocked.Exchange(ref Measured, 0);
            Volatile.Write(ref _epoch, Stopwatch.GetTimestamp());
        }

        public void Published(int publisher, int lines)
        {
            Interlocked.Add(ref _own[publisher], lines);
            Interlocked.Add(ref State.Sent, lines);
        }

        public void Received(int member, long delivered, long measured)
        {
            if (delivered > 0)
            {
                Interlocked.Add(ref _received[member], delivered);
                Interlocked.Add(ref State.Delivered, delivered);
                Interlocked.Add(ref Measured, measured);
            }
        }

        // Lines the furthest-behind member has yet to receive (every line but its own), warm-up included.
        public long MostBehind()
        {
            long sent = 0;
            for (int i = 0; i < _own.Length; i++)
            {
                sent += Volatile.Read(ref _own[i]);
            }

            long most = 0;
            for (int i = 0; i < _received.Length; i++)
            {
                most = Math.Max(most, sent - Volatile.Read(ref _own[i]) - Volatile.Read(ref _received[i]));
            }

            return most;
        }

        // Until every measured line arrived, nothing arrived for the patience given, or the limit passed.
        public async Task DrainAsync(long expected, TimeSpan patience, TimeSpan limit, CancellationToken cancellation)
        {
            long last = -1;
            var quiet = Stopwatch.StartNew();
            var total = Stopwatch.StartNew();
            while (Interlocked.Read(ref Measured) < expected && quiet.Elapsed < patience && total.Elapsed < limit)
            {
                long now = Interlocked.Read(ref Measured);
                if (now != last)
                {
                    last = now;
                    quiet.Restart();
                }

                await Task.Delay(10, cancellation);
            }
        }
    }
}
