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
