using System.Net.Sockets;
using System.Text;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// Delivery under pressure (PROTOCOL.md v2, flow control and presence at scale), over real sockets. Light sizes
/// here; <c>PARLEY_SOAK=1</c> runs the full ones.
/// </summary>
[Trait("Category", "Abuse")]
public sealed class DeliveryTests
{
    private static readonly bool Soak = Environment.GetEnvironmentVariable("PARLEY_SOAK") == "1";

    [Fact]
    public async Task AReaderThatKeepsReadingGetsEveryLineOfABurstFromManySenders()
    {
        // The burst in full: 24 MB, far more than a member's backlog, so only flow control gets it all through.
        const int senders = 8;
        const int linesEach = 1000;
        string payload = new('b', 3000);
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o => o.RateLimit = 0);
        var endPoint = server.EndPointOf(ServiceKind.Chat);

        using var readerSocket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await readerSocket.ConnectAsync(endPoint).DefaultTimeout();
        using var reader = new StreamReader(new NetworkStream(readerSocket, ownsSocket: false), new UTF8Encoding(false));
        await readerSocket.SendAsync("/nick reader\n"u8.ToArray());

        var clients = new List<LineClient>();
        try
        {
            for (int s = 0; s < senders; s++)
            {
                clients.Add(await server.JoinChatAsync($"sender{s}"));
            }

            // Senders read what the room says too (they keep up; one that stopped reading would be cut off), and
            // each writes its whole burst at once, as fast as TCP takes it.
            var draining = clients.Select(client => Task.Run(async () =>
            {
                var sink = new byte[64 * 1024];
                try
                {
                    while (await client.Socket.ReceiveAsync(sink) > 0)
                    {
                    }
                }
                catch (SocketException)
                {
                    // Closed at the end of the test.
                }
            })).ToArray();
            var sending = clients.Select((client, s) => Task.Run(async () =>
            {
                var burst = new StringBuilder();
                for (int i = 0; i < linesEach; i++)
                {
                    burst.Append(i).Append(' ').Append(payload).Append('\n');
                }

                await client.SendAsync(Encoding.UTF8.GetBytes(burst.ToString()));
            })).ToArray();

            var next = new int[senders];
            int received = 0;
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (received < senders * linesEach)
            {
                string line = await reader.ReadLineAsync(deadline.Token) ?? throw new Xunit.Sdk.XunitException($"the reader was cut off after {received} lines");
                Assert.DoesNotContain("too slow", line, StringComparison.Ordinal);
                if (line.StartsWith("<sender", StringComparison.Ordinal))
                {
                    int sender = line[7] - '0';
                    Assert.StartsWith($"<sender{sender}> {next[sender]} ", line, StringComparison.Ordinal);
                    next[sender]++;
                    received++;
                }
            }

            await Task.WhenAll(sending).DefaultTimeout();
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ConnectionsThatOnlyListenCostTheRoomNoPresenceLines()
    {
        int count = Soak ? 3000 : 200;
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o => o.RateLimit = 0);
        await using var watcher = await server.JoinChatAsync("watcher");
        var listeners = new List<LineClient>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var listener = await server.ConnectAsync();
                listeners.Add(listener);
                await listener.ExpectLineAsync(l => l.StartsWith("* you are guest-", StringComparison.Ordinal), "the private welcome");
            }

            foreach (var listener in listeners)
            {
                await listener.DisposeAsync();
            }

            listeners.Clear();
            await watcher.SendLineAsync("/ping counted");
            await watcher.ExpectLineAsync("* pong counted");
            Assert.DoesNotContain(watcher.Seen, l => l.Contains("guest-", StringComparison.Ordinal) && !l.StartsWith("* you are ", StringComparison.Ordinal));
        }
        finally
        {
            foreach (var listener in listeners)
            {
                await listener.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task PastThePresenceLimitOnlyTheMemberItselfHearsOfItsArrival()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o => o.PresenceLimit = 3);
        await using var first = await server.JoinChatAsync("first");
        await using var second = await server.JoinChatAsync("second");
        await using var third = await server.JoinChatAsync("third");
        await first.ExpectLineAsync("* third joined #lobby");

        await using var fourth = await server.JoinChatAsync("fourth");
        await fourth.SendLineAsync("/who");
        await fourth.ExpectLineAsync(l => l.StartsWith("* members of #lobby: ", StringComparison.Ordinal) && l.Split(", ").Length == 4, "four members");
        await fourth.SendLineAsync("/quit");

        await first.SendLineAsync("/ping after");
        await first.ExpectLineAsync("* pong after");
        Assert.DoesNotContain(first.Seen, l => l.Contains("fourth", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AReaderSteadilySlowerThanTheRoomIsCutOffWithinTheBoundAndTheOthersLoseNothing()
    {
        const int Lines = 100_000;
        string payload = new('s', 100);
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o =>
        {
            o.RateLimit = 0;
            o.History = HistoryMode.Off;
        });
        var endPoint = server.EndPointOf(ServiceKind.Chat);
        await using var sender = await server.JoinChatAsync("sender");

        using var fastSocket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await fastSocket.ConnectAsync(endPoint).DefaultTimeout();
        using var fast = new StreamReader(new NetworkStream(fastSocket, ownsSocket: false), new UTF8Encoding(false));
        await fastSocket.SendAsync("/nick fast\n"u8.ToArray());

        // About 100 KB/s, steadily: a real reader on a poor link, a small fraction of what the room sends.
        using var slow = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await slow.ConnectAsync(endPoint).DefaultTimeout();
        await slow.SendAsync("/nick slow\n"u8.ToArray());
        await sender.ExpectLineAsync("* slow joined #lobby");
        using var stop = new CancellationTokenSource();
        var slowReading = Task.Run(async () =>
        {
            var buffer = new byte[1024];
            try
            {
                while (!stop.IsCancellationRequested && await slow.ReceiveAsync(buffer) > 0)
                {
                    await Task.Delay(10, stop.Token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                // The test is over, or the server let go of the slow reader.
            }
        });

        var started = System.Diagnostics.Stopwatch.StartNew();
        var sending = Task.Run(async () =>
        {
            var batch = new StringBuilder();
            for (int i = 0; i < Lines; i++)
            {
                batch.Append(i).Append(' ').Append(payload).Append('\n');
                if (batch.Length > 64 * 1024 || i == Lines - 1)
                {
                    await sender.SendAsync(Encoding.UTF8.GetBytes(batch.ToString()));
                    batch.Clear();
                }
            }
        });

        TimeSpan? slowLeftAfter = null;
        int next = 0;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (next < Lines)
        {
            string line = await fast.ReadLineAsync(deadline.Token) ?? throw new Xunit.Sdk.XunitException($"the fast reader was cut off after {next} lines");
            if (line == "* slow left #lobby (too slow)")
            {
                slowLeftAfter = started.Elapsed;
            }
            else if (line.StartsWith("<sender> ", StringComparison.Ordinal))
            {
                Assert.Equal($"<sender> {next} {payload}", line);
                next++;
            }
        }

        await sending.DefaultTimeout();
        stop.Cancel();
        await slowReading.DefaultTimeout();
        Assert.NotNull(slowLeftAfter);
        // The allowance is 2 s of holding the room back; the rest is the reader's first backlog filling.
        Assert.True(slowLeftAfter < TimeSpan.FromSeconds(8), $"the slow reader held the room for {slowLeftAfter}");
    }
}
