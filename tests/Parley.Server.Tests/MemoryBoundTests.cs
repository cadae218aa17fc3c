using System.Net.Sockets;
using System.Text;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>Runs alone: it weighs the whole process's heap, which any test running beside it would add to.</summary>
[CollectionDefinition(nameof(MemoryBoundTests), DisableParallelization = true)]
public sealed class MemoryBoundCollection;

/// <summary>
/// Members that never read, while another floods the room: the server's memory must not follow the flood. The
/// light variant runs in CI; <c>PARLEY_SOAK=1</c> runs the full size.
/// </summary>
[Trait("Category", "Abuse")]
[Collection(nameof(MemoryBoundTests))]
public sealed class MemoryBoundTests
{
    private const int MaxBacklogBytes = 64 * 1024;
    private const long HeapGrowthLimit = 16L * 1024 * 1024;
    private static readonly bool Soak = Environment.GetEnvironmentVariable("PARLEY_SOAK") == "1";

    [Fact]
    public async Task MembersThatNeverReadCostBoundedMemoryWhileTheOthersGetEveryLine()
    {
        int stalledCount = Soak ? 100 : 5;
        int lineCount = Soak ? 1_000_000 : 400_000;
        // A batch (about 21 KB) stays under the behind mark (half the 64 KiB backlog), so the reader that keeps up
        // is never held against its allowance: with 400 lines (43 KB) it was behind after every batch, and on a
        // loaded run it could be cut off as too slow before the members that never read.
        const int BatchLines = 200;
        string payload = new('m', 90);

        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o =>
        {
            o.MaxBacklogBytes = MaxBacklogBytes;
            o.RateLimit = 0;
            // What is measured is queued output; kept history is bounded on its own (--history-keep) and not at issue.
            o.History = HistoryMode.Off;
        });
        await using var sender = await server.JoinChatAsync("sender");
        var endPoint = server.EndPointOf(ServiceKind.Chat);

        // The reader keeps no history: in this process, a list of every line would be the biggest thing on the heap.
        using var readerSocket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await readerSocket.ConnectAsync(endPoint).DefaultTimeout();
        using var reader = new StreamReader(new NetworkStream(readerSocket, ownsSocket: false), new UTF8Encoding(false));
        await readerSocket.SendAsync("/nick reader\n"u8.ToArray());
        await ExpectAsync(reader, "* reader joined #lobby");

        // Small receive windows keep the kernel from absorbing much, so the server's own queues are what fills.
        var stalled = new List<Socket>();
        try
        {
            for (int i = 0; i < stalledCount; i++)
            {
                var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
                stalled.Add(socket);
                await socket.ConnectAsync(endPoint).DefaultTimeout();
                await socket.SendAsync(Encoding.ASCII.GetBytes($"/nick stalled{i}\n"));
                await ExpectAsync(reader, $"* stalled{i} joined #lobby");
            }

            long baseline = GC.GetTotalMemory(forceFullCollection: true);
            long peak = baseline;
            int cutOff = 0;
            for (int sent = 0; sent < lineCount; sent += BatchLines)
            {
                var batch = new StringBuilder();
                for (int i = 0; i < BatchLines; i++)
                {
                    batch.Append(sent + i).Append(' ').Append(payload).Append('\n');
                }

                await sender.SendAsync(Encoding.UTF8.GetBytes(batch.ToString()));
                for (int i = 0; i < BatchLines; i++)
                {
                    string line = await ReadAsync(reader);
                    if (line.StartsWith("* stalled", StringComparison.Ordinal))
                    {
                        Assert.EndsWith(" left #lobby (too slow)", line, StringComparison.Ordinal);
                        cutOff++;
                        i--;
                        continue;
                    }

                    Assert.Equal($"<sender> {sent + i} {payload}", line);
                }

                if ((sent / BatchLines) % 100 == 0)
                {
                    peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true));
                }
            }

            peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true));
            long flooded = (long)lineCount * (payload.Length + 20);
            Assert.Equal(stalledCount, cutOff);
            Assert.True(flooded > 2 * HeapGrowthLimit, "the flood must be big enough that an unbounded queue would show");
            Assert.True(
                peak - baseline < HeapGrowthLimit,
                $"the heap grew by {(peak - baseline) / 1024} KiB while {flooded / 1024 / 1024} MiB went through a room with {stalledCount} members that never read");
        }
        finally
        {
            foreach (var socket in stalled)
            {
                socket.Dispose();
            }
        }
    }

    private static async Task<string> ReadAsync(StreamReader reader)
    {
        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        return await reader.ReadLineAsync(timeout.Token) ?? throw new Xunit.Sdk.XunitException("the server closed the reader's connection");
    }

    private static async Task ExpectAsync(StreamReader reader, string expected)
    {
        while (await ReadAsync(reader) is var line && line != expected)
        {
        }
    }
}
