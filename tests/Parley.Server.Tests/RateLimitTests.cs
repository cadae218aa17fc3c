using System.Diagnostics;
using System.Text;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public class RateLimitTests
{
    [Fact]
    public async Task AFloodIsSlowedNotDroppedAndOthersKeepBeingServed()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o =>
        {
            o.RateLimit = 50;
            o.RateBurst = 10;
        });
        await using var flooder = await server.JoinChatAsync("flooder");
        await using var reader = await server.JoinChatAsync("reader");
        await using var probe = await server.JoinChatAsync("probe");

        const int Lines = 60;
        var flood = new StringBuilder();
        for (int i = 0; i < Lines; i++)
        {
            flood.Append("flood ").Append(i).Append('\n');
        }

        var clock = Stopwatch.StartNew();
        await flooder.SendAsync(Encoding.UTF8.GetBytes(flood.ToString()));

        // While the flood is being paced, another member is answered at once.
        await probe.SendLineAsync("/ping probe");
        await probe.ExpectLineAsync("* pong probe");
        var probeAnswered = clock.Elapsed;

        for (int i = 0; i < Lines; i++)
        {
            await reader.ExpectLineAsync($"<flooder> flood {i}");
        }

        Assert.True(probeAnswered < clock.Elapsed, "the probe was only answered after the whole flood");

        // 60 lines at 50/s after a burst of 10 take at least a second: the flooder was slowed, and lost nothing.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"60 lines arrived in {clock.Elapsed}, faster than the limit allows");
    }
}
