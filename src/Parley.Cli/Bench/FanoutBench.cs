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
    /// <summary>What the members speak: Parley's line chat, a plain line relay, or IRC.</summary>
    public enum Protocol
    {
        Parley,
        Line,
        Irc,
    }

    internal static readonly byte[] Marker = "~B~"u8.ToArray();
    private static readonly byte[] Probe = "~R~"u8.ToArray();
    internal static readonly TimeSpan WarmupTime = TimeSpan.FromSeconds(1);
    internal static readonly TimeSpan MaxDrain = TimeSpan.FromSeconds(5);

    // Lines sent before this Stopwatch timestamp belong to the warm-up and give no latency sample.
    private static long _latencyEpoch;

    public static async Task<BenchReport> RunAsync(IReadOnlyList<IPEndPoint> targets, Protocol protocol, int members, int publishers, int size, double ratePerPublisher, TimeSpan duration, TimeSpan setupLimit, CancellationToken cancellation, bool stagger = false)
    {
        publishers = Math.Min(publishers, members);
        string runId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        string room = $"bench-{runId}";
        bool chatProtocol = protocol != Protocol.Line;
        // Connecting is bounded too: a server with a tiny listen backlog can take long to accept a thousand members.
        using var setup = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        setup.CancelAfter(setupLimit);
        using var pace = new SeatingPace(members, setupLimit, setup);
        Socket[] sockets;
        try
        {
            // Small batches for plain relays: the tutorials' server listens with a backlog of 5, and connections
            // past it wait for SYN-ACK retransmits (seconds each) before the server sees them.
            sockets = await ConnectSpreadAsync(targets, members, chatProtocol ? 100 : 4, pace, setup.Token);
            if (chatProtocol)
            {
                // A room of the run's own, so real users in #lobby never see its lines (issue 16, item 9), and no
                // names: guests cannot collide with anyone's name, nor with another run's. The pong says the server
                // has the member in the room.
                for (int i = 0; i < members; i++)
                {
                    await sockets[i].SendAsync(Hello(protocol, room, runId, i), SocketFlags.None, setup.Token);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return new BenchReport("fanout").Add("members", members).Add("publishers", publishers)
                .Add("error", pace.Verdict ?? $"the server did not accept {members} members within {setupLimit.TotalSeconds:0} s");
        }

        var state = new FanoutState(members);
        pace.NextPhase("in the room", () => state.ReadyCount);
        var receivers = sockets.Select(s => Task.Run(() => ReceiveAsync(s, chatProtocol, state))).ToArray();
        try
        {
            if (!chatProtocol)
            {
                // A plain relay says nothing when it has registered a member, and a member it has not registered
                // yet would miss lines. Two members probe until every member has heard one of their probes.
                var probing = ProbeAsync(sockets[0], sockets[1], state, setup.Token);
                await state.WaitUntilReadyAsync(setup.Token);
                await probing;
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellation);
            }
            else
            {
                await state.WaitUntilReadyAsync(setup.Token);
            }

            pace.Dispose();
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            return new BenchReport("fanout").Add("members", members).Add("publishers", publishers)
                .Add("error", pace.Verdict ?? $"only {state.ReadyCount} of {members} members were in the room after {setupLimit.TotalSeconds:0} s");
        }

        // At most this many lines undelivered per member: about 100 KiB queued, well inside the server's default
        // 1 MiB backlog, so healthy bench members are never mistaken for slow consumers.
        const long window = 1000;
        // Plain relays pass on whatever one read returns, so lines sent in batches would reach members cut at
        // arbitrary points and interleaved with other publishers' pieces. One line per send, as a chat user
        // sends, keeps each relayed chunk whole; Parley frames lines itself and takes batches.
        int batch = chatProtocol ? 64 : 1;
        // IRC lines are commands: each carries the PRIVMSG to the channel before the same text the other modes send.
        byte[] command = protocol == Protocol.Irc ? Encoding.ASCII.GetBytes($"PRIVMSG #{room} :") : [];
        // Staggered, publisher p's lines fall p/P of the way into each interval, as independent users' would;
        // otherwise every publisher's k-th line is due at the same instant and lines reach the server in bursts of P.
        double Offset(int publisher) => stagger && ratePerPublisher > 0 ? (double)publisher / publishers / ratePerPublisher : 0;

        // A short unmeasured round first, for every server alike: a JIT-compiled server would otherwise be
        // measured partly before its hot paths are compiled.
        using (var warmup = CancellationTokenSource.CreateLinkedTokenSource(cancellation))
        {
            warmup.CancelAfter(WarmupTime);
            await Task.WhenAll(Enumerable.Range(0, publishers).Select(p => Task.Run(() => PublishAsync(sockets[p], p, command, size, ratePerPublisher, Offset(p), window, members, batch, state, warmup.Token))));
            await state.DrainAsync(Interlocked.Read(ref state.Sent) * (members - 1), TimeSpan.FromSeconds(2), WarmupTime, cancellation);
            state.Reset();
            Volatile.Write(ref _latencyEpoch, Stopwatch.GetTimestamp());
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var clock = Stopwatch.StartNew();
        long deliveriesAtStart = Interlocked.Read(ref state.Delivered);
        using (new BenchProgress(() => $"fanout: {clock.Elapsed.TotalSeconds:0}s {Interlocked.Read(ref state.Delivered) / Math.Max(1, clock.Elapsed.TotalSeconds):0} deliveries/s"))
        {
            stop.CancelAfter(duration);
            await Task.WhenAll(Enumerable.Range(0, publishers).Select(p => Task.Run(() => PublishAsync(sockets[p], p, command, size, ratePerPublisher, Offset(p), window, members, batch, state, stop.Token))));
            double publishSeconds = clock.Elapsed.TotalSeconds;
            long expected = Interlocked.Read(ref state.Sent) * (members - 1);
            // Lines still on their way after this are counted lost: a server that relays slower than the bench sent
            // (a rate limit, say) must not stretch a 1-second run into minutes.
            await state.DrainAsync(expected, TimeSpan.FromSeconds(5), duration < MaxDrain ? duration : MaxDrain, cancellation);
            long delivered = Interlocked.Read(ref state.Delivered) - deliveriesAtStart;
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            var latency = Latency.Merge(await Task.WhenAll(receivers));
            return new BenchReport("fanout")
                .Add("protocol", protocol.ToString().ToLowerInvariant())
                .Add("servers", targets.Count)
                .Add("members", members).Add("publishers", publishers).Add("size", size)
                .Add("rate_per_publisher", ratePerPublisher > 0 ? ratePerPublisher : "max")
                .Add("staggered", stagger)
                .Add("seconds", Math.Round(publishSeconds, 2))
                .Add("sent", Interlocked.Read(ref state.Sent))
                .Add("expected", expected)
                .Add("delivered", delivered)
                .Add("lost", Math.Max(0, expected - delivered))
                .Add("deliveries_per_s", Math.Round(delivered / publishSeconds))
                .AddLatency("latency", latency);
        }
    }

    // Member i connects to server i mod S: with several nodes of one chat, members and publishers are spread evenly, so
    // most lines cross from one node to another.
    private static async Task<Socket[]> ConnectSpreadAsync(IReadOnlyList<IPEndPoint> targets, int members, int batch, SeatingPace pace, CancellationToken cancellation)
    {
        var perTarget = new Socket[targets.Count][];
        int connected = 0;
        for (int t = 0; t < targets.Count; t++)
        {
            int count = (members / targets.Count) + (t < members % targets.Count ? 1 : 0);
            int before = connected;
            perTarget[t] = await BenchSockets.ConnectManyAsync(targets[t], count, cancellation, batch, connected: c => pace.Report(before + c));
            connected += count;
        }

        return [.. Enumerable.Range(0, members).Select(i => perTarget[i % targets.Count][i / targets.Count])];
    }

    // Parley members move to the run's room; IRC members register with a nick of the run's own first. Either way a
    // ping follows, and its answer says the server has the member in the room.
    private static byte[] Hello(Protocol protocol, string room, string runId, int member) => Encoding.ASCII.GetBytes(protocol == Protocol.Irc
        ? $"NICK b{runId}x{member}\r\nUSER bench 0 * :parley bench\r\nJOIN #{room}\r\nPING :ready\r\n"
        : $"/join {room}\n/ping ready\n");

    private static async Task PublishAsync(Socket socket, int publisher, byte[] command, int size, double rate, double offset, long window, int members, int maxBatch, FanoutState state, CancellationToken stop)
    {
        long sequence = 0;
        var schedule = Stopwatch.StartNew();
        // At a rate, lines go out in 1 ms ticks; flat out, in batches as the window allows.
        int lineSize = command.Length + size;
        var batch = new byte[lineSize * maxBatch];
        for (int i = 0; i < maxBatch; i++)
        {
            command.CopyTo(batch.AsSpan(i * lineSize));
        }

        while (!stop.IsCancellationRequested)
        {
            int count;
            if (rate > 0)
            {
                long due = (long)((schedule.Elapsed.TotalSeconds + offset) * rate);
                count = (int)Math.Min(maxBatch, due - sequence);
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

                count = maxBatch;
            }

            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < count; i++)
            {
                var line = batch.AsSpan((i * lineSize) + command.Length, size);
                Format(line, publisher, sequence++, now);
                if (command.Length > 0)
                {
                    line[^2] = (byte)'\r';
                }
            }

            try
            {
                // A server that stops reading (the tutorials' one stalls at 1,000 members) must not hold the run past its time.
                await socket.SendAsync(batch.AsMemory(0, count * lineSize), SocketFlags.None, stop);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                // Not counted: a send cut off by the end of the run would otherwise show up as a whole batch
                // "lost" by the server (64 lines × (N−1) members).
                return;
            }

            Interlocked.Add(ref state.Sent, count);
        }
    }

    // "~B~ <publisher> <sequence> <timestamp> xxxx…\n", exactly `size` bytes.
    internal static void Format(Span<byte> line, int publisher, long sequence, long timestamp)
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
        bool ready = false;
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
                long epoch = Volatile.Read(ref _latencyEpoch);
                int delivered = 0;
                int newline;
                while ((newline = data.IndexOf((byte)'\n')) >= 0)
                {
                    var line = data[..newline];
                    int marker = line.IndexOf(Marker);
                    if (marker >= 0 && TryReadTimestamp(line[(marker + Marker.Length)..], out long sentAt))
                    {
                        if (sentAt >= epoch)
                        {
                            histogram.RecordValue(Latency.Microseconds(now - sentAt));
                        }

                        delivered++;
                    }
                    else if (!ready && (line.SequenceEqual("* pong ready"u8) || line.IndexOf(Probe) >= 0 || IsIrcPong(line)))
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

    // ":server PONG server :ready" (or "… ready": a one-word last parameter needs no colon), ending in CR.
    private static bool IsIrcPong(ReadOnlySpan<byte> line)
    {
        line = line.TrimEnd((byte)'\r');
        return (line.EndsWith(" :ready"u8) || line.EndsWith(" ready"u8)) && line.IndexOf(" PONG "u8) >= 0;
    }

    private static async Task ProbeAsync(Socket first, Socket second, FanoutState state, CancellationToken setup)
    {
        byte[] probe = [.. Probe, (byte)'\n'];
        while (!state.AllReady)
        {
            await first.SendAsync(probe, SocketFlags.None, setup);
            await second.SendAsync(probe, SocketFlags.None, setup);
            await Task.Delay(50, setup);
        }
    }

    // " <publisher> <sequence> <timestamp> ": read in one pass over the digits, as Format wrote them. This runs for
    // every line every member receives, so it is written out rather than searched for and parsed field by field.
    internal static bool TryReadTimestamp(ReadOnlySpan<byte> rest, out long timestamp)
    {
        timestamp = 0;
        int at = 0;
        for (int field = 0; field < 3; field++)
        {
            if (at >= rest.Length || rest[at] != (byte)' ')
            {
                return false;
            }

            int start = ++at;
            long value = 0;
            while (at < rest.Length && (uint)(rest[at] - '0') <= 9)
            {
                value = (value * 10) + (rest[at] - '0');
                at++;
            }

            // No digits, or more than a long holds: not a line of ours.
            if (at == start || at - start > 18)
            {
                return false;
            }

            timestamp = value;
        }

        return true;
    }

    /// <summary>
    /// Ends the setup early when, at the pace so far, the members cannot all be seated within the limit: a server
    /// that accepts ten connections a second would otherwise hold every run for the whole limit to fail anyway.
    /// Each phase (connecting, then hearing that every member is in the room) is judged on its own pace.
    /// </summary>
    private sealed class SeatingPace : IDisposable
    {
        // Judged only after this long, and only when the projection falls well short, so a slow start is forgiven.
        private static readonly TimeSpan Patience = TimeSpan.FromSeconds(4);
        private const double Shortfall = 0.75;

        private readonly int _members;
        private readonly TimeSpan _limit;
        private readonly CancellationTokenSource _setup;
        private readonly Stopwatch _total = Stopwatch.StartNew();
        private readonly Timer _timer;
        private Stopwatch _phase = Stopwatch.StartNew();
        private string _phaseName = "connected";
        private Func<int> _progress;
        private int _connected;

        public SeatingPace(int members, TimeSpan limit, CancellationTokenSource setup)
        {
            _members = members;
            _limit = limit;
            _setup = setup;
            _progress = () => Volatile.Read(ref _connected);
            _timer = new Timer(_ => Judge(), null, TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(250));
        }

        /// <summary>Why the setup was ended before its limit, if it was.</summary>
        public string? Verdict { get; private set; }

        public void Report(int connected) => Volatile.Write(ref _connected, connected);

        public void NextPhase(string name, Func<int> progress)
        {
            _phaseName = name;
            _progress = progress;
            _phase = Stopwatch.StartNew();
        }

        public void Dispose() => _timer.Dispose();

        private void Judge()
        {
            var inPhase = _phase.Elapsed;
            var left = _limit - _total.Elapsed;
            int done = _progress();
            if (inPhase < Patience || left <= TimeSpan.Zero || Verdict is not null)
            {
                return;
            }

            double projected = done + done / inPhase.TotalSeconds * left.TotalSeconds;
            if (projected < _members * Shortfall)
            {
                Verdict = $"given up after {_total.Elapsed.TotalSeconds:0} s: {done} of {_members} members {_phaseName} in {inPhase.TotalSeconds:0} s, too slow to seat them all within {_limit.TotalSeconds:0} s";
                _setup.Cancel();
            }
        }
    }

    internal sealed class FanoutState(int members)
    {
        private readonly TaskCompletionSource _allReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _ready;
        public long Sent;
        public long Delivered;

        public void Reset()
        {
            Interlocked.Exchange(ref Sent, 0);
            Interlocked.Exchange(ref Delivered, 0);
        }

        public void MemberReady()
        {
            if (Interlocked.Increment(ref _ready) == members)
            {
                _allReady.TrySetResult();
            }
        }

        public int ReadyCount => Volatile.Read(ref _ready);

        public bool AllReady => _allReady.Task.IsCompleted;

        public Task WaitUntilReadyAsync(CancellationToken cancellation) => _allReady.Task.WaitAsync(cancellation);

        // Waits until every expected delivery arrived, until nothing has arrived for the patience given, or until
        // the limit: deliveries that trickle in (a rate-limited server) would otherwise hold it for ever.
        public async Task DrainAsync(long expected, TimeSpan patience, TimeSpan limit, CancellationToken cancellation)
        {
            long last = -1;
            var quiet = Stopwatch.StartNew();
            var total = Stopwatch.StartNew();
            while (Interlocked.Read(ref Delivered) < expected && quiet.Elapsed < patience && total.Elapsed < limit)
            {
                cancellation.ThrowIfCancellationRequested();
                long now = Interlocked.Read(ref Delivered);
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
