using System.Text;
using Parley.Server.Connections;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public class RawChatTests
{
    [Fact]
    public async Task RelaysEachChunkToTheOthersAndAnnouncesComingsAndGoingsInTheTutorialsWords()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Raw);
        await using var first = await server.ConnectAsync();
        // The first client hears nothing until a second one arrives.
        await using var second = await server.ConnectAsync();
        string secondAddress = EndpointText.Of(second.Socket.LocalEndPoint);
        Assert.Equal($"[{secondAddress}] is online…\n", Encoding.UTF8.GetString(await first.ReadChunkAsync()));

        // The tutorials' client sends "name:text" with no newline.
        await second.SendAsync(Encoding.UTF8.GetBytes("zhangkang:你好\u001b[31m"));
        Assert.Equal("zhangkang:你好[31m", Encoding.UTF8.GetString(await first.ReadChunkAsync()));

        await second.SendAsync("exit"u8.ToArray());
        Assert.Equal($"[{secondAddress}] is down!\n", Encoding.UTF8.GetString(await first.ReadChunkAsync()));
        Assert.Empty(await second.ReadChunkAsync());
    }
}
