using System.Diagnostics.Metrics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public partial class ChatRobustnessTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o => o.MaxLineBytes = 64);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task AHundredClientsEachGetEveryOtherClientsLinesInSendOrder()
    {
        const int Clients = 100;
        const int LinesEach = 3;
        var clients = new LineClient[Clients];
        for (int i = 0; i < Clients; i++)
        {
            clients[i] = await _server.ConnectAsync();
            await clients[i].SendLineAsync($"/nick c{i}");
        }

        // A pong proves the server has the client in the room, so nothing sent after this can miss it.
        await Task.WhenAll(clients.Select(async c =>
        {
            await c.SendLineAsync("/ping ready");
            await c.ExpectLineAsync("* pong ready");
        })).DefaultTimeout(TimeSpan.FromSeconds(30));

        await Task.WhenAll(clients.Select(async (c, i) =>
        {
            for (int n = 0; n < LinesEach; n++)
            {
                await c.SendLineAsync($"line {n} from c{i}");
            }
        })).DefaultTimeout(TimeSpan.FromSeconds(30));

        var received = await Task.WhenAll(clients.Select(async (c, i) =>
        {
            var lines = new List<string>();
            while (lines.Count < (Clients - 1) * LinesEach)
            {
                string line = await c.ExpectLineAsync(l => l.StartsWith('<'), "a message");
                lines.Add(line);
            }

            return lines;
        })).DefaultTimeout(TimeSpan.FromSeconds(60));

        for (int i = 0; i < Clients; i++)
        {
            var bySender = received[i].Select(l => MessagePattern().Match(l)).GroupBy(m => m.Groups["sender"].Value).ToDictionary(g => g.Key, g => g.Select(m => int.Parse(m.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList());
            Assert.False(bySender.ContainsKey($"c{i}"), $"c{i} received its own line");
            Assert.Equal(Clients - 1, bySender.Count);
            Assert.All(bySender.Values, order => Assert.Equal([0, 1, 2], order));
        }

        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task ACharacterSplitAcrossTwoWritesArrivesWhole()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        byte[] bytes = Encoding.UTF8.GetBytes("张康\n");
        await alice.SendAsync(bytes[..1]);
        await alice.SendAsync(bytes[1..4]);
        await alice.SendAsync(bytes[4..]);
        await bob.ExpectLineAsync("<alice> 张康");
    }

    [Fact]
    public async Task InvalidUtf8IsReplacedNeverPassedOn()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        await alice.SendAsync([.. "bad "u8, 0xff, 0xfe, .. " bytes\n"u8]);
        await bob.ExpectLineAsync("<alice> bad \ufffd\ufffd bytes");
    }

    [Fact]
    public async Task AnOverLongLineIsDiscardedWithAnErrorAndTheConnectionKept()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        await alice.SendLineAsync(new string('x', 500));
        await alice.ExpectLineAsync("! line too long (max 64 bytes)");
        await alice.SendLineAsync("still here");
        // Bob never sees any part of the long line: the next thing he reads is the short one.
        Assert.Equal("<alice> still here", await bob.ReadLineAsync());
    }

    [Fact]
    public async Task EscapesControlsAndBidiOverridesAreStrippedFromRelayedText()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        await alice.SendLineAsync("\u001b[2J\u001b]0;pwned\u0007hi \u001b[31mred\u001b[0m \u202eevil\u2066x\u2069\u0008!\r");
        await bob.ExpectLineAsync("<alice> hi red evilx!");
    }

    [Fact]
    public async Task AClientThatResetsMidLineLeavesAndTheServerKeepsServing()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var bob = await _server.JoinChatAsync("bob");
        var crasher = await _server.JoinChatAsync("crasher");
        await crasher.SendAsync("half a li"u8.ToArray());
        crasher.Reset();

        await alice.ExpectLineAsync("* crasher left #lobby (connection closed)");
        await alice.SendLineAsync("anyone?");
        await bob.ExpectLineAsync("<alice> anyone?");
        Assert.DoesNotContain(bob.Seen, line => line.Contains("half a li", StringComparison.Ordinal));

        await using var late = await _server.JoinChatAsync("late");
        await alice.ExpectLineAsync("* late joined #lobby");
    }

    [Fact]
    public async Task AMemberThatStopsReadingIsCutOffAndTheOthersLoseNothing()
    {
        long cutOffs = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Parley.Server" && instrument.Name == "parley.chat.slow_consumer_cutoffs")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref cutOffs, value));
        listener.Start();

        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o =>
        {
            o.MaxBacklogBytes = 64 * 1024;
            o.RateLimit = 0;
        });
        await using var sender = await server.JoinChatAsync("sender");
        await using var reader = await server.JoinChatAsync("reader");
        await using var stalled = await server.JoinChatAsync("stalled");

        // The sender goes at the healthy reader's pace, batch by batch, so only the member that never reads
        // falls behind. Kernel buffers absorb a few MiB before its backlog grows, hence the generous cap. A batch
        // (about 16 KB) stays under the behind mark (half the 64 KiB backlog): with 500 lines (39 KB) the healthy
        // reader was itself behind after every batch, and on a loaded machine its allowance could run out first.
        const int BatchLines = 200;
        const int MaxLines = 400_000;
        string payload = new('p', 60);
        bool cutOff = false;
        int sent = 0;
        while (!cutOff && sent < MaxLines)
        {
            var batch = new StringBuilder();
            for (int i = 0; i < BatchLines; i++)
            {
                batch.Append(sent + i).Append(' ').Append(payload).Append('\n');
            }

            await sender.SendAsync(Encoding.UTF8.GetBytes(batch.ToString()));
            for (int i = 0; i < BatchLines; i++)
            {
                string line = await reader.ExpectLineAsync(l => l.StartsWith("<sender>", StringComparison.Ordinal) || l.StartsWith("* stalled left", StringComparison.Ordinal), "a sender line");
                if (line.StartsWith('*'))
                {
                    Assert.Equal("* stalled left #lobby (too slow)", line);
                    cutOff = true;
                    i--;
                    continue;
                }

                Assert.Equal($"<sender> {sent + i} {payload}", line);
            }

            sent += BatchLines;
        }

        Assert.True(cutOff, $"the stalled member was not cut off after {sent} lines");
        // The cut-off is counted once the stalled connection's handler has finished; give it the usual bound.
        await server.StopAsync();
        Assert.True(Interlocked.Read(ref cutOffs) >= 1, "the cut-off was not counted in parley.chat.slow_consumer_cutoffs");
    }

    [Fact]
    public async Task AMemberThatLeavesWhileTheServerIsStuckSendingToItIsDroppedAfterTheGraceAndFreesItsSlot()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o =>
        {
            o.MaxBacklogBytes = 64L * 1024 * 1024;
            o.RateLimit = 0;
            o.MaxConnections = 2;
        });
        await using var sender = await server.JoinChatAsync("sender");
        var endPoint = server.EndPointOf(ServiceKind.Chat);
        using var stalled = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await stalled.ConnectAsync(endPoint).DefaultTimeout();
        await stalled.SendAsync("/nick stalled\n"u8.ToArray());
        await sender.ExpectLineAsync("* stalled joined #lobby");

        // 16 MiB for a member that reads nothing: more than the kernel buffers on both sides, so the server's send
        // to it is stuck when it asks to leave.
        byte[] batch = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('s', 99) + "\n", 1000)));
        for (int i = 0; i < 168; i++)
        {
            await sender.SendAsync(batch);
        }

        await sender.SendLineAsync("/ping flooded");
        await sender.ExpectLineAsync("* pong flooded");
        await stalled.SendAsync("/quit\n"u8.ToArray());
        await sender.ExpectLineAsync("* stalled left #lobby (quit)");

        // Its slot is free once its handler has ended: after the 2 s a leaving member gets for its last lines, though
        // it still reads nothing.
        await using var next = await server.RetryJoinChatAsync("next", within: TimeSpan.FromSeconds(8));
    }

    [GeneratedRegex(@"^<(?<sender>c\d+)> line (?<n>\d+) from \k<sender>$")]
    private static partial Regex MessagePattern();
}
