using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public class IdleTimeoutTests
{
    [Fact]
    public async Task ASilentChatMemberIsToldAndTheRoomSeesWhyItLeft()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o => o.IdleTimeout = TimeSpan.FromSeconds(1));
        await using var watcher = await server.JoinChatAsync("watcher");
        await using var sleeper = await server.JoinChatAsync("sleeper");

        // The watcher keeps talking, so only the sleeper goes quiet; it pings until it sees the sleeper go.
        var watching = Task.Run(async () =>
        {
            for (int i = 0; ; i++)
            {
                await watcher.SendLineAsync($"/ping {i}");
                string line = await watcher.ExpectLineAsync(l => l == $"* pong {i}" || l.StartsWith("* sleeper left", StringComparison.Ordinal), "a pong or the sleeper leaving");
                if (line.StartsWith("* sleeper left", StringComparison.Ordinal))
                {
                    return line;
                }
            }
        });

        Assert.Contains("! disconnected: idle for 1 seconds", await sleeper.ReadToEndAsync());
        Assert.Equal("* sleeper left #lobby (idle timeout)", await watching.DefaultTimeout());
        Assert.DoesNotContain(watcher.Seen, l => l.StartsWith("* watcher left", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AnIdleEchoConnectionIsClosedWithAReason()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Echo], Framing.Line, o => o.IdleTimeout = TimeSpan.FromSeconds(1));
        await using var client = await server.ConnectAsync(ServiceKind.Echo);
        await client.SendLineAsync("hello");
        Assert.Equal(["hello", "! disconnected: idle for 1 seconds"], await client.ReadToEndAsync());
    }
}

public class LineTimeoutTests
{
    [Fact]
    public async Task AClientDribblingALineIsToldAndClosedWhileOthersAreServed()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o => o.LineTimeout = TimeSpan.FromSeconds(1));
        await using var watcher = await server.JoinChatAsync("watcher");
        await using var slow = await server.JoinChatAsync("slow");

        // A byte at a time, each well inside any idle limit, never an LF: the line clock runs from the first byte.
        var dribbling = Task.Run(async () =>
        {
            try
            {
                for (int i = 0; i < 100; i++)
                {
                    await slow.SendAsync("x"u8.ToArray());
                    await Task.Delay(100);
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
            {
                // Closed by the server, as expected.
            }
        });

        Assert.Contains("! disconnected: line not finished within 1 seconds", await slow.ReadToEndAsync());
        await watcher.ExpectLineAsync("* slow left #lobby (line timeout)");
        await watcher.SendLineAsync("/ping still");
        await watcher.ExpectLineAsync("* pong still");
        await dribbling.DefaultTimeout();
    }

    [Fact]
    public async Task ALineFinishedInTimeResetsTheClock()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Echo], Framing.Line, o => o.LineTimeout = TimeSpan.FromSeconds(1));
        await using var client = await server.ConnectAsync(ServiceKind.Echo);
        // Three lines, each finished within the limit, over well more than the limit in total.
        for (int i = 0; i < 3; i++)
        {
            await client.SendAsync("par"u8.ToArray());
            await client.SendLineAsync($"t {i}");
            Assert.Equal($"part {i}", await client.ReadLineAsync());
            await client.SendAsync("x"u8.ToArray());
            await client.SendLineAsync(string.Empty);
            Assert.Equal("x", await client.ReadLineAsync());
        }
    }
}
