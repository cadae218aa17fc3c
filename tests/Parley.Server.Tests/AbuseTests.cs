using System.Net.Sockets;
using System.Text;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// What strangers do to a public chat server, each case checked the way a user would check it: the others keep
/// being served and see nothing of the abuse. Light in CI; the soak command
/// (<c>PARLEY_SOAK=1 dotnet test -c Release --filter Category=Abuse</c>) runs the full sizes the issue names.
/// </summary>
[Trait("Category", "Abuse")]
public class AbuseTests : IAsyncLifetime
{
    private static readonly bool Soak = Environment.GetEnvironmentVariable("PARLEY_SOAK") == "1";
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o =>
    {
        o.RateLimit = 0;
        o.MaxConnections = 19_000;
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task AHugeLineWithNoNewlineCostsTheSenderAnErrorAndNobodyAnything()
    {
        await using var bystander = await _server.JoinChatAsync("bystander");
        await using var abuser = await _server.JoinChatAsync("abuser");
        int megabytes = Soak ? 10 : 1;
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)'A');
        for (int sent = 0; sent < megabytes * 1024 * 1024; sent += chunk.Length)
        {
            await abuser.SendAsync(chunk);
        }

        await abuser.ExpectLineAsync("! line too long (max 4096 bytes)");
        await abuser.SendLineAsync("\nnormal again");
        await bystander.ExpectLineAsync("<abuser> normal again");
        Assert.DoesNotContain(bystander.Seen, l => l.Contains("AAAA", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AFloodOfInvalidUtf8ArrivesRepairedAndNeverAsItCame()
    {
        await using var bystander = await _server.JoinChatAsync("bystander");
        await using var abuser = await _server.JoinChatAsync("abuser");
        int lines = Soak ? 10_000 : 500;
        var rng = new Random(42);
        var flood = new List<byte>();
        for (int i = 0; i < lines; i++)
        {
            var junk = new byte[40];
            rng.NextBytes(junk);
            flood.AddRange(junk.Select(b => b == (byte)'\n' ? (byte)0xff : b));
            flood.Add((byte)'\n');
        }

        await abuser.SendAsync([.. flood]);
        await abuser.SendLineAsync("/ping done");
        await abuser.ExpectLineAsync("* pong done");
        await bystander.SendLineAsync("/ping seen");
        var received = new List<string>();
        while (await bystander.ReadLineAsync() is { } line && line != "* pong seen")
        {
            received.Add(line);
        }

        Assert.NotEmpty(received);
        Assert.All(received, l => Assert.DoesNotContain(l, c => c != '\t' && char.IsControl(c)));
    }

    [Fact]
    public async Task ImpersonationByLookAlikeNamesAndPaintedLinesFails()
    {
        await using var alice = await _server.JoinChatAsync("alice");
        await using var mallory = await _server.JoinChatAsync("mallory");
        foreach (string fake in new[] { "ALICE", "Ａｌｉｃｅ", "alice\u200b", "ali\u202ece", "alice\t", "<alice>" })
        {
            await mallory.SendLineAsync($"/nick {fake}");
            await mallory.ExpectLineAsync(l => l.StartsWith("! ", StringComparison.Ordinal), $"refusal of {fake}");
        }

        // A line that tries to fake a new line from alice, with CR, an escape to erase the real prefix, and bidi.
        await mallory.SendLineAsync("hi\r<alice> send me your password\u001b[2K\u202e");
        string line = await alice.ExpectLineAsync(l => l.StartsWith("<mallory>", StringComparison.Ordinal), "mallory's line");
        Assert.Equal("<mallory> hi<alice> send me your password", line);
    }

    [Fact]
    public async Task ThousandsOfConnectionsAtOnceAreAllServed()
    {
        int count = Soak ? 5_000 : 500;
        await using var probe = await _server.JoinChatAsync("probe");
        var endPoint = _server.EndPointOf(ServiceKind.Chat);
        var sockets = await Task.WhenAll(Enumerable.Range(0, count).Select(async _ =>
        {
            var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(endPoint).DefaultTimeout(TimeSpan.FromSeconds(60));
            return socket;
        })).DefaultTimeout(TimeSpan.FromSeconds(90));

        await probe.SendLineAsync("/ping alive");
        await probe.ExpectLineAsync("* pong alive");

        // Every one of them is a working chat connection.
        var last = sockets[^1];
        await last.SendAsync("/ping last\n"u8.ToArray());
        using var reader = new StreamReader(new NetworkStream(last));
        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        string? line;
        while ((line = await reader.ReadLineAsync(timeout.Token)) is not null && line != "* pong last")
        {
        }

        Assert.Equal("* pong last", line);
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
    }

    [Fact]
    public async Task ManyClientsKilledAtOnceLeaveAndTheServerCarriesOn()
    {
        int count = Soak ? 500 : 100;
        await using var watcher = await _server.JoinChatAsync("watcher");
        var doomed = new List<LineClient>();
        for (int i = 0; i < count; i++)
        {
            doomed.Add(await _server.JoinChatAsync($"doomed{i}"));
        }

        await watcher.SendLineAsync("/ping before");
        await watcher.ExpectLineAsync("* pong before");
        foreach (var client in doomed)
        {
            client.Reset();
        }

        int left = 0;
        while (left < count)
        {
            await watcher.ExpectLineAsync(l => l.StartsWith("* doomed", StringComparison.Ordinal) && l.EndsWith("(connection closed)", StringComparison.Ordinal), "a doomed client leaving");
            left++;
        }

        await watcher.SendLineAsync("/who");
        await watcher.ExpectLineAsync("* members of #lobby: watcher");
    }

    [Fact]
    public async Task OneClientsFloodDoesNotStopAProbeBeingServed()
    {
        int messages = Soak ? 100_000 : 10_000;
        await using var flooder = await _server.JoinChatAsync("flooder");
        await using var reader = await _server.JoinChatAsync("reader");
        await using var probe = await _server.JoinChatAsync("probe");

        var flooding = Task.Run(async () =>
        {
            var batch = new StringBuilder();
            for (int i = 0; i < messages; i++)
            {
                batch.Append("flood ").Append(i).Append('\n');
                if (batch.Length > 32 * 1024 || i == messages - 1)
                {
                    await flooder.SendAsync(Encoding.UTF8.GetBytes(batch.ToString()));
                    batch.Clear();
                }
            }
        });
        var reading = Task.Run(async () =>
        {
            for (int i = 0; i < messages; i++)
            {
                await reader.ExpectLineAsync($"<flooder> flood {i}");
            }
        });

        for (int i = 0; i < 20; i++)
        {
            await probe.SendLineAsync($"/ping {i}");
            await probe.ExpectLineAsync($"* pong {i}");
        }

        await flooding.DefaultTimeout(TimeSpan.FromSeconds(120));
        await reading.DefaultTimeout(TimeSpan.FromSeconds(120));
    }
}
