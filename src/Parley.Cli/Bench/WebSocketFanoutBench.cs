using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using HdrHistogram;
using static Parley.Cli.Bench.FanoutBench;

namespace Parley.Cli.Bench;

/// <summary>
/// The fan-out of <see cref="FanoutBench"/> through the web front end (<c>--protocol ws</c>): N WebSockets on the
/// server's <c>--web</c> port in one room, P publishing one line per frame, each delivery one JSON event per frame.
/// The lines and the closed-loop window are the TCP run's, so the two figures compare the front ends, not the loads.
/// </summary>
internal static class WebSocketFanoutBench
{
    public static async Task<BenchReport> RunAsync(IPEndPoint target, int members, int publishers, int size, TimeSpan duration, TimeSpan setupLimit, CancellationToken cancellation)
    {
        publishers = Math.Min(publishers, members);
        string room = $"bench-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}";
        var address = new Uri($"ws://{target}/ws");
        using var setup = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        setup.CancelAfter(setupLimit);
        var sockets = new ClientWebSocket[members];
        var state = new FanoutState(members);
        var receivers = new Task<LongHistogram>[members];
        try
        {
            for (int start = 0; start < members; start += 50)
            {
                await Task.WhenAll(Enumerable.Range(start, Math.Min(50, members - start)).Select(async i =>
                {
                    sockets[i] = new ClientWebSocket();
                    await sockets[i].ConnectAsync(address, setup.Token);
                    await SendAsync(sockets[i], $"/join {room}", setup.Token);
                    await SendAsync(sockets[i], "/ping ready", setup.Token);
                    receivers[i] = Task.Run(() => ReceiveAsync(sockets[i], i, state));
                }));
            }

            await state.WaitUntilReadyAsync(setup.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException && !cancellation.IsCancellationRequested)
        {
            Close(sockets);
            return new BenchReport("fanout").Add("protocol", "ws").Add("members", members).Add("publishers", publishers)
                .Add("error", $"only {state.ReadyCount} of {members} members were in the room after {setupLimit.TotalSeconds:0} s ({ex.Message})");
        }

        // The window is per member, not in all as on TCP: a WebSocket client reads a frame at a time, and one member
        // that fell a whole room's window behind (1,000 lines × N) would pass the server's backlog and be cut off.
        const long window = 1000;
        _received = new long[members];
        _own = new long[members];
        long epoch;
        using (var warmup = CancellationTokenSource.CreateLinkedTokenSource(cancellation))
        {
            warmup.CancelAfter(WarmupTime);
            await Task.WhenAll(Enumerable.Range(0, publishers).Select(p => Task.Run(() => PublishAsync(sockets[p], p, size, window, members, state, warmup.Token))));
            await state.DrainAsync(Interlocked.Read(ref state.Sent) * (members - 1), TimeSpan.FromSeconds(2), WarmupTime, cancellation);
            state.Reset();
            Array.Clear(_received);
            Array.Clear(_own);
            epoch = Stopwatch.GetTimestamp();
            Interlocked.Exchange(ref _measured, 0);
            Volatile.Write(ref _latencyEpoch, epoch);
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var clock = Stopwatch.StartNew();
        using (new BenchProgress(() => $"fanout (ws): {clock.Elapsed.TotalSeconds:0}s {Interlocked.Read(ref state.Delivered) / Math.Max(1, clock.Elapsed.TotalSeconds):0} deliveries/s"))
        {
            stop.CancelAfter(duration);
            await Task.WhenAll(Enumerable.Range(0, publishers).Select(p => Task.Run(() => PublishAsync(sockets[p], p, size, window, members, state, stop.Token))));
            double publishSeconds = clock.Elapsed.TotalSeconds;
            long expected = Interlocked.Read(ref state.Sent) * (members - 1);
            // Up to the whole drain time even after a short run: the window lets each member be 1,000 frames behind,
            // and a client that reads a frame per call on a busy machine takes more than a second to catch up.
            await state.DrainAsync(expected + Interlocked.Read(ref state.Delivered) - Interlocked.Read(ref _measured), TimeSpan.FromSeconds(5), MaxDrain, cancellation);
            long delivered = Interlocked.Read(ref _measured);
            Close(sockets);
            var latency = Latency.Merge(await Task.WhenAll(receivers));
            return new BenchReport("fanout")
                .Add("protocol", "ws")
                .Add("members", members).Add("publishers", publishers).Add("size", size)
                .Add("rate_per_publisher", "max")
                .Add("seconds", Math.Round(publishSeconds, 2))
                .Add("sent", Interlocked.Read(ref state.Sent))
                .Add("expected", expected)
                .Add("delivered", delivered)
                .Add("lost", Math.Max(0, expected - delivered))
                .Add("deliveries_per_s", Math.Round(delivered / publishSeconds))
                .AddLatency("latency", latency);
        }
    }

    // Lines sent before this Stopwatch timestamp belong to the warm-up: no latency sample, and not counted in the
    // run's deliveries (a slow front end is still delivering the warm-up's lines when the run starts).
    private static long _latencyEpoch = long.MaxValue;
    private static long _measured;
    private static long[] _received = [];
    private static long[] _own = [];

    private static Task SendAsync(ClientWebSocket socket, string line, CancellationToken cancellation) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(line), WebSocketMessageType.Text, endOfMessage: true, cancellation);

    private static void Close(ClientWebSocket?[] sockets)
    {
        foreach (var socket in sockets)
        {
            socket?.Abort();
            socket?.Dispose();
        }
    }

    // One line per frame, as the page sends; flat out within the same window as the TCP run.
    private static async Task PublishAsync(ClientWebSocket socket, int publisher, int size, long window, int members, FanoutState state, CancellationToken stop)
    {
        long sequence = 0;
        var line = new byte[size];
        while (!stop.IsCancellationRequested)
        {
            if (MostBehind(Interlocked.Read(ref state.Sent)) > window)
            {
                await Task.Delay(1, CancellationToken.None);
                continue;
            }

            Format(line, publisher, sequence++, Stopwatch.GetTimestamp());
            try
            {
                await socket.SendAsync(line.AsMemory(0, size - 1), WebSocketMessageType.Text, endOfMessage: true, stop);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                return;
            }

            Interlocked.Increment(ref _own[publisher]);
            Interlocked.Increment(ref state.Sent);
        }
    }

    // Lines the furthest-behind member has yet to receive (every line but its own).
    private static long MostBehind(long sent)
    {
        long most = 0;
        for (int i = 0; i < _received.Length; i++)
        {
            most = Math.Max(most, sent - Volatile.Read(ref _own[i]) - Volatile.Read(ref _received[i]));
        }

        return most;
    }

    private static async Task<LongHistogram> ReceiveAsync(ClientWebSocket socket, int member, FanoutState state)
    {
        var histogram = Latency.NewHistogram();
        var buffer = new byte[64 * 1024];
        bool ready = false;
        try
        {
            while (true)
            {
                int filled = 0;
                ValueWebSocketReceiveResult received;
                do
                {
                    received = await socket.ReceiveAsync(buffer.AsMemory(filled), CancellationToken.None);
                    filled = Math.Min(filled + received.Count, buffer.Length - 1);
                }
                while (!received.EndOfMessage && received.MessageType != WebSocketMessageType.Close);

                if (received.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                var frame = buffer.AsSpan(0, filled);
                int marker = frame.IndexOf(Marker);
                if (marker >= 0 && TryReadTimestamp(frame[(marker + Marker.Length)..], out long sentAt))
                {
                    if (sentAt >= Volatile.Read(ref _latencyEpoch))
                    {
                        histogram.RecordValue(Latency.Microseconds(Stopwatch.GetTimestamp() - sentAt));
                        Interlocked.Increment(ref _measured);
                    }

                    Interlocked.Increment(ref state.Delivered);
                    Interlocked.Increment(ref _received[member]);
                }
                else if (!ready && frame.IndexOf("\"type\":\"pong\""u8) >= 0)
                {
                    ready = true;
                    state.MemberReady();
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Closed at the end of the run.
        }

        return histogram;
    }
}
