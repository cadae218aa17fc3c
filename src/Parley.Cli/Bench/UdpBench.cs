using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Parley.Cli.Bench;

/// <summary>
/// C sockets, each keeping K datagrams of S bytes in flight for T seconds against a UDP echo or greeting
/// service. A datagram that never comes back is lost; a lost one frees its slot after a timeout, so loss shows
/// as a count, not as a stall.
/// </summary>
internal static class UdpBench
{
    private static readonly TimeSpan LossTimeout = TimeSpan.FromMilliseconds(200);

    public static async Task<BenchReport> RunAsync(IPEndPoint target, int clients, int inFlight, int size, TimeSpan duration, CancellationToken cancellation)
    {
        long sent = 0;
        long received = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var clock = Stopwatch.StartNew();
        using (new BenchProgress(() => $"udp: {clock.Elapsed.TotalSeconds:0}s {Interlocked.Read(ref received) / Math.Max(1, clock.Elapsed.TotalSeconds):0} datagrams/s"))
        {
            stop.CancelAfter(duration);
            var histograms = await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
            {
                var histogram = Latency.NewHistogram();
                using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                await socket.ConnectAsync(target, cancellation);
                var payload = new byte[size];
                payload.AsSpan().Fill((byte)'u');
                var buffer = new byte[size + 64];
                var sentAt = new Queue<long>();
                while (!stop.IsCancellationRequested || sentAt.Count > 0)
                {
                    while (!stop.IsCancellationRequested && sentAt.Count < inFlight)
                    {
                        sentAt.Enqueue(Stopwatch.GetTimestamp());
                        await socket.SendAsync(payload, SocketFlags.None);
                        Interlocked.Increment(ref sent);
                    }

                    using var wait = new CancellationTokenSource(LossTimeout);
                    try
                    {
                        await socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token);
                        histogram.RecordValue(Latency.MicrosecondsSince(sentAt.Dequeue()));
                        Interlocked.Increment(ref received);
                    }
                    catch (OperationCanceledException)
                    {
                        // Nothing came back in time: count the oldest datagram as lost and move on.
                        sentAt.Clear();
                    }
                    catch (SocketException)
                    {
                        sentAt.Clear();
                    }
                }

                return histogram;
            }, cancellation)));
            double seconds = clock.Elapsed.TotalSeconds;
            long totalSent = Interlocked.Read(ref sent);
            long totalReceived = Interlocked.Read(ref received);
            return new BenchReport("udp")
                .Add("clients", clients).Add("in_flight", inFlight).Add("size", size)
                .Add("seconds", Math.Round(seconds, 2))
                .Add("sent", totalSent)
                .Add("received", totalReceived)
                .Add("lost", totalSent - totalReceived)
                .Add("datagrams_per_s", Math.Round(totalReceived / seconds))
                .AddLatency("latency", Latency.Merge(histograms));
        }
    }
}
