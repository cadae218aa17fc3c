using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HdrHistogram;

namespace Parley.Cli.Bench;

/// <summary>
/// N members in one room, P of them publishing lines of S bytes, flat out or at a rate each. Every line carries
/// its publisher's send time, so each delivery is one latency sample. Flat out is closed-loop: a publisher waits
/// while more than a window of its lines are still undelivered, so the run measures what the server can relay,
/// not how big a backlog it can build.
/// </summary>
internal static class FanoutBench
{
    private static readonly byte[] Marker = "~B~"u8.ToArray();
    private static readonly TimeSpan SetupLimit = TimeSpan.FromSeconds(30);

    public static async Task<BenchReport> RunAsync(IPEndPoint target, bool chatProtocol, int members, int publishers, int size, double ratePerPublisher, TimeSpan duration, CancellationToken cancellation)
    {
        publishers = Math.Min(publishers, members);
        // Connecting is bounded too: a server with a tiny listen backlog can take long to accept a thousand members.
        using var setup = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        setup.CancelAfter(SetupLimit);
        Socket[] sockets;
        try
        {
            sockets = await BenchSockets.ConnectManyAsync(target, members, setup.Token);
            if (chatProtocol)
            {
                // A name first means one join notice per member, and the pong says the server has it in the room.
                for (int i = 0; i < members; i++)
                {
                    await sockets[i].SendAsync(Encoding.ASCII.GetBytes($"/nick bench{i}\n/ping ready\n"), SocketFlags.None, setup.Token);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return new BenchReport("fanout").Add("members", members).Add("publishers", publishers)
                .Add("error", $"the server did not accept {members} members within {SetupLimit.TotalSeconds:0} s");
        }

        var state = new FanoutState(members);
        var receivers = sockets.Select(s => Task.Run(() => ReceiveAsync(s, chatProtocol, state))).ToArray();
        await state.WaitUntilReadyAsync(chatProtocol ? members : 0, setup.Token);
        if (!chatProtocol)
        {
            // Plain relays answer nothing; give their accept loops a moment to register every member.
            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellation);
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var clock = Stopwatch.StartNew();
        long deliveriesAtStart = Interlocked.Read(ref state.Delivered);
        using (new BenchProgress(() => $"fanout: {clock.Elapsed.TotalSeconds:0}s {Interlocked.Read(ref state.Delivered) / Math.Max(1, clock.Elapsed.TotalSeconds):0} deliveries/s"))
        {
            stop.CancelAfter(duration);
            // At most this many lines undelivered per member: about 100 KiB queued, well inside the server's default
            // 1 MiB backlog, so healthy bench members are never mistaken for slow consumers.
            const long window = 1000;
            await Task.WhenAll(Enumerable.Range(0, publishers).Select(p => Task.Run(() => PublishAsync(sockets[p], p, size, ratePerPublisher, window, members, state, stop.Token))));
            double publishSeconds = clock.Elapsed.TotalSeconds;
            long expected = Interlocked.Read(ref state.Sent) * (members - 1);
            await state.DrainAsync(expected, TimeSpan.FromSeconds(5));
            long delivered = Interlocked.Read(ref state.Delivered) - deliveriesAtStart;
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            var latency = Latency.Merge(await Task.WhenAll(receivers));
            return new BenchReport("fanout")
                .Add("protocol", chatProtocol ? "parley" : "line")
                .Add("members", members).Add("publishers", publishers).Add("size", size)
                .Add("rate_per_publisher", ratePerPublisher > 0 ? ratePerPublisher : "max")
                .Add("seconds", Math.Round(publishSeconds, 2))
                .Add("sent", Interlocked.Read(ref state.Sent))
                .Add("expected", expected)
                .Add("delivered", delivered)
                .Add("lost", Math.Max(0, expected - delivered))
                .Add("deliveries_per_s", Math.Round(delivered / publishSeconds))
                .AddLatency("latency", latency);
        }
    }

    private static async Task PublishAsync(Socket socket, int publisher, int size, double rate, long window, int members, FanoutState state, CancellationToken stop)
    {
        var line = new byte[size];
        long sequence = 0;
        var schedule = Stopwatch.StartNew();
        // At a rate, lines go out in 1 ms ticks; flat out, in batches as the window allows.
        const int MaxBatch = 64;
        var batch = new byte[size * MaxBatch];
        while (!stop.IsCancellationRequested)
        {
            int count;
            if (rate > 0)
            {
                long due = (long)(schedule.Elapsed.TotalSeconds * rate);
                count = (int)Math.Min(MaxBatch, due - sequence);
                if (count <= 0)
                {
                    await Task.Delay(1, CancellationToken.None);
                    continue;
                }
            }
            else
            {
                long outstanding = Interlocked.Read(ref state.Sent) * (members - 1) - Interlocked.Read(ref state.Delivered);
                if (outstanding > window * (members - 1))
                {
                    await Task.Yield();
                    await Task.Delay(1, CancellationToken.None);
                    continue;
                }

                count = MaxBatch;
            }

            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < count; i++)
            {
                Format(batch.AsSpan(i * size, size), publisher, sequence++, now);
            }

            Interlocked.Add(ref state.Sent, count);
            try
            {
                // A server that stops reading (the tutorials' one stalls at 1,000 members) must not hold the run past its time.
                await socket.SendAsync(batch.AsMemory(0, count * size), SocketFlags.None, stop);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                return;
            }
        }
    }

    // "~B~ <publisher> <sequence> <timestamp> xxxx…\n", exactly `size` bytes.
    private static void Format(Span<byte> line, int publisher, long sequence, long timestamp)
    {
        line.Fill((byte)'x');
        Marker.CopyTo(line);
        int at = Marker.Length;
        line[at++] = (byte)' ';
        Utf8Formatter.TryFormat(publisher, line[at..], out int written);
        at += written;
        line[at++] = (byte)' ';
        Utf8Formatter.TryFormat(sequence, line[at..], out written);
        at += written;
        line[at++] = (byte)' ';
        Utf8Formatter.TryFormat(timestamp, line[at..], out written);
        at += written;
        line[at] = (byte)' ';
        line[^1] = (byte)'\n';
    }

    private static async Task<LongHistogram> ReceiveAsync(Socket socket, bool chatProtocol, FanoutState state)
    {
        var histogram = Latency.NewHistogram();
        var buffer = new byte[64 * 1024];
        int kept = 0;
        bool ready = !chatProtocol;
        try
        {
            while (true)
            {
                int read = await socket.ReceiveAsync(buffer.AsMemory(kept), SocketFlags.None);
                if (read == 0)
                {
                    break;
                }

                var data = buffer.AsSpan(0, kept + read);
                long now = Stopwatch.GetTimestamp();
                int delivered = 0;
                int newline;
                while ((newline = data.IndexOf((byte)'\n')) >= 0)
                {
                    var line = data[..newline];
                    int marker = line.IndexOf(Marker);
                    if (marker >= 0 && TryReadTimestamp(line[(marker + Marker.Length)..], out long sentAt))
                    {
                        histogram.RecordValue(Math.Max(1, (now - sentAt) * 1_000_000 / Stopwatch.Frequency));
                        delivered++;
                    }
                    else if (!ready && line.SequenceEqual("* pong ready"u8))
                    {
                        ready = true;
                        state.MemberReady();
                    }

                    data = data[(newline + 1)..];
                }

                Interlocked.Add(ref state.Delivered, delivered);
                data.CopyTo(buffer);
                kept = data.Length;
                if (kept == buffer.Length)
                {
                    kept = 0;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Closed at the end of the run.
        }

        return histogram;
    }

    private static bool TryReadTimestamp(ReadOnlySpan<byte> rest, out long timestamp)
    {
        timestamp = 0;
        // " <publisher> <sequence> <timestamp> "
        for (int field = 0; field < 2; field++)
        {
            int space = rest[1..].IndexOf((byte)' ');
            if (space < 0)
            {
                return false;
            }

            rest = rest[(space + 1)..];
        }

        return Utf8Parser.TryParse(rest[1..], out timestamp, out _);
    }

    private sealed class FanoutState(int members)
    {
        private readonly TaskCompletionSource _allReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _ready;
        public long Sent;
        public long Delivered;

        public void MemberReady()
        {
            if (Interlocked.Increment(ref _ready) == members)
            {
                _allReady.TrySetResult();
            }
        }

        public Task WaitUntilReadyAsync(int expected, CancellationToken cancellation) =>
            expected == 0 ? Task.CompletedTask : _allReady.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellation);

        // Waits until every expected delivery arrived, or until nothing has arrived for the patience given.
        public async Task DrainAsync(long expected, TimeSpan patience)
        {
            long last = -1;
            var quiet = Stopwatch.StartNew();
            while (Interlocked.Read(ref Delivered) < expected && quiet.Elapsed < patience)
            {
                long now = Interlocked.Read(ref Delivered);
                if (now != last)
                {
                    last = now;
                    quiet.Restart();
                }

                await Task.Delay(10);
            }
        }
    }
}
