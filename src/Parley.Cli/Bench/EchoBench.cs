using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HdrHistogram;

namespace Parley.Cli.Bench;

/// <summary>
/// C connections, each keeping K messages of S bytes (LF included) in flight for T seconds. Replies are counted
/// by their LFs, so it measures any server that answers each line with one line: Parley's echo, or the tutorials'
/// greeting server, whose one "hello " per read leaves the line count as it was. The rate is the replies that
/// came back within the T seconds; replies still owed then get a short grace for their latency, and are
/// reported as unanswered after it.
/// </summary>
internal static class EchoBench
{
    // A server whose accept queue overflowed can leave a connection waiting for TCP retransmits (1, 2, 4 … s);
    // the run must not wait for them.
    private static readonly TimeSpan ReplyGrace = TimeSpan.FromSeconds(2);

    public static async Task<BenchReport> RunAsync(IPEndPoint target, int connections, int inFlight, int size, TimeSpan duration, CancellationToken cancellation)
    {
        byte[] window = new byte[inFlight * size];
        for (int i = 0; i < window.Length; i++)
        {
            window[i] = (i + 1) % size == 0 ? (byte)'\n' : (byte)('a' + (i % 26));
        }

        var sockets = await BenchSockets.ConnectManyAsync(target, connections, cancellation);

        // Only replies that come back within the run's time count; those still owed after it only give latency.
        long replies = 0;
        long unanswered = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var giveUp = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        using (new BenchProgress(() => $"echo: {clock.Elapsed.TotalSeconds:0}s {Interlocked.Read(ref replies) / Math.Max(1, clock.Elapsed.TotalSeconds):0} msg/s"))
        {
            stop.CancelAfter(duration);
            giveUp.CancelAfter(duration + ReplyGrace);
            var histograms = await Task.WhenAll(sockets.Select(s => Task.Run(async () =>
            {
                var (histogram, owed) = await RunConnectionAsync(s, window, inFlight, size, () =>
                {
                    if (!stop.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref replies);
                    }
                }, stop.Token, giveUp.Token);
                Interlocked.Add(ref unanswered, owed);
                return histogram;
            })));
            // The measured time is the run's, or shorter when every connection ended early (the server closed them).
            double seconds = Math.Min(clock.Elapsed.TotalSeconds, duration.TotalSeconds);
            long inTime = Interlocked.Read(ref replies);
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            return new BenchReport("echo")
                .Add("connections", connections).Add("in_flight", inFlight).Add("size", size)
                .Add("seconds", Math.Round(seconds, 2))
                .Add("messages", inTime)
                .Add("messages_per_s", Math.Round(inTime / seconds))
                .Add("mib_per_s", Math.Round(inTime * (double)size / seconds / (1024 * 1024), 2))
                .Add("unanswered", Interlocked.Read(ref unanswered))
                .AddLatency("latency", Latency.Merge(histograms));
        }
    }

    // Returns the latencies measured and how many messages were still unanswered when the grace ran out.
    private static async Task<(LongHistogram Histogram, int Unanswered)> RunConnectionAsync(Socket socket, byte[] window, int inFlight, int size, Action onReply, CancellationToken stop, CancellationToken giveUp)
    {
        var histogram = Latency.NewHistogram();
        // Replies come back in order, so the send times of messages in flight form a FIFO ring.
        var sentAt = new long[inFlight];
        int head = 0;
        int outstanding = inFlight;
        long now = Stopwatch.GetTimestamp();
        Array.Fill(sentAt, now);
        var buffer = new byte[64 * 1024];
        try
        {
            await socket.SendAsync(window, SocketFlags.None, giveUp);
            while (outstanding > 0)
            {
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None, giveUp);
                if (read == 0)
                {
                    break;
                }

                int answered = buffer.AsSpan(0, read).Count((byte)'\n');
                now = Stopwatch.GetTimestamp();
                for (int i = 0; i < answered && outstanding > 0; i++)
                {
                    histogram.RecordValue(Latency.Microseconds(now - sentAt[head]));
                    head = (head + 1) % inFlight;
                    outstanding--;
                    onReply();
                }

                if (!stop.IsCancellationRequested && answered > 0)
                {
                    int refill = Math.Min(answered, inFlight - outstanding);
                    int tail = (head + outstanding) % inFlight;
                    for (int i = 0; i < refill; i++)
                    {
                        sentAt[(tail + i) % inFlight] = now;
                    }

                    outstanding += refill;
                    await socket.SendAsync(window.AsMemory(0, refill * size), SocketFlags.None, giveUp);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            // The server closed on us, or kept us waiting past the grace; what was measured so far stands.
        }

        return (histogram, outstanding);
    }
}

internal static class BenchSockets
{
    /// <summary>
    /// Connects in concurrent batches: a server with a small listen backlog drops SYNs, and retries that overlap
    /// cost one retransmit interval per batch instead of one per connection.
    /// </summary>
    public static async Task<Socket[]> ConnectManyAsync(IPEndPoint target, int count, CancellationToken cancellation, int batch = 100, Action<int>? connected = null)
    {
        var sockets = new List<Socket>(count);
        try
        {
            while (sockets.Count < count)
            {
                int size = Math.Min(batch, count - sockets.Count);
                sockets.AddRange(await Task.WhenAll(Enumerable.Range(0, size).Select(_ => ConnectAsync(target, cancellation))));
                connected?.Invoke(sockets.Count);
            }
        }
        catch
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            throw;
        }

        return [.. sockets];
    }

    /// <param name="from">The local address to connect from; the system's choice if null.</param>
    public static async Task<Socket> ConnectAsync(IPEndPoint target, CancellationToken cancellation, IPAddress? from = null)
    {
        var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (from is not null)
            {
                socket.Bind(new IPEndPoint(from, 0));
            }

            await socket.ConnectAsync(target, cancellation);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new Parley.Client.ConnectException($"cannot connect to {target}: {Parley.Client.Connector.Describe(ex)}", ex);
        }
    }
}
