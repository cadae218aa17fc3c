using System.Text;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public class GreetEchoTests
{
    [Fact]
    public async Task GreetInLineFramingWelcomesAndSaysHelloUntilExit()
    {
        await using var server = await TestServer.StartAsync(ServiceKind.Greet);
        await using var client = await server.ConnectAsync(ServiceKind.Greet);
        Assert.Equal("welcome!", await client.ReadLineAsync());
        await client.SendLineAsync("zhangkang");
        Assert.Equal("hello zhangkang", await client.ReadLineAsync());
        await client.SendLineAsync("张康\r");
        Assert.Equal("hello 张康", await client.ReadLineAsync());
        await client.SendLineAsync("exit");
        Assert.Null(await client.ReadLineAsync());
    }

    [Fact]
    public async Task GreetInRawFramingGivesTheTutorialsClientExactlyWhatTheTutorialPrints()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Greet], Framing.Raw);
        await using var client = await server.ConnectAsync(ServiceKind.Greet);
        // The tutorial's client: recv, then for each name send it and recv the answer, then send exit.
        Assert.Equal("welcome!", await client.ReadExactlyAsync(8));
        foreach (string name in new[] { "zhangkang", "jack", "tom" })
        {
            await client.SendAsync(Encoding.UTF8.GetBytes(name));
            string expected = $"hello {name}";
            Assert.Equal(expected, await client.ReadExactlyAsync(expected.Length));
        }

        await client.SendAsync("exit"u8.ToArray());
        Assert.Empty(await client.ReadChunkAsync());
    }

    [Fact]
    public async Task GreetAnswersAnOverLongLineWithAnErrorAndCarriesOn()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Greet], Framing.Line, o => o.MaxLineBytes = 32);
        await using var client = await server.ConnectAsync(ServiceKind.Greet);
        await client.ExpectLineAsync("welcome!");
        await client.SendLineAsync(new string('y', 100));
        Assert.Equal("! line too long (max 32 bytes)", await client.ReadLineAsync());
        await client.SendLineAsync("tom");
        Assert.Equal("hello tom", await client.ReadLineAsync());
    }

    [Fact]
    public async Task EchoInLineFramingSendsEachLineBackUnchanged()
    {
        await using var server = await TestServer.StartAsync(ServiceKind.Echo);
        await using var client = await server.ConnectAsync(ServiceKind.Echo);
        await client.SendAsync("one\ntwo\r\n张康\n"u8.ToArray());
        Assert.Equal("one", await client.ReadLineAsync());
        Assert.Equal("two", await client.ReadLineAsync());
        Assert.Equal("张康", await client.ReadLineAsync());
        await client.SendAsync([0xff, (byte)'\n']);
        Assert.Equal("\ufffd", await client.ReadLineAsync());
    }

    // A read whose lines are all plain goes back in one write; these runs mix in every line that must not go back as
    // it came, so the output shows each line was still treated as it is alone.
    [Theory]
    [InlineData("many short lines\n", 40, "many short lines\n")]
    [InlineData("a CR among them\r\n", 40, "a CR among them\n")]
    [InlineData("bad \xff byte\n", 40, "bad \ufffd byte\n")]
    [InlineData("one line far too long for the limit of 32 bytes\n", 40, "! line too long (max 32 bytes)\n")]
    public async Task EchoTreatsEveryLineOfOneReadAsItsOwn(string odd, int shortLines, string oddBack)
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Echo], Framing.Line, o => o.MaxLineBytes = 32);
        await using var client = await server.ConnectAsync(ServiceKind.Echo);
        var sent = new List<byte>();
        var expected = new StringBuilder();
        for (int i = 0; i < shortLines; i++)
        {
            string line = $"line {i} 张康\n";
            sent.AddRange(Encoding.UTF8.GetBytes(line));
            expected.Append(line);
            if (i == shortLines / 2)
            {
                // Latin-1 so that \xff stays one raw byte, never valid UTF-8.
                sent.AddRange(odd.Contains('\xff') ? Encoding.Latin1.GetBytes(odd) : Encoding.UTF8.GetBytes(odd));
                expected.Append(oddBack);
            }
        }

        await client.SendAsync([.. sent]);
        string back = await client.ReadExactlyAsync(Encoding.UTF8.GetByteCount(expected.ToString()));
        Assert.Equal(expected.ToString(), back);
    }

    [Fact]
    public async Task EchoInRawFramingReturnsTheBytesAsTheyCame()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Echo], Framing.Raw);
        await using var client = await server.ConnectAsync(ServiceKind.Echo);
        await client.SendAsync("no newline here"u8.ToArray());
        Assert.Equal("no newline here", await client.ReadExactlyAsync(15));
    }

    [Theory]
    [InlineData(Framing.Raw, "ok, 问题正在处理中...")]
    [InlineData(Framing.Line, "ok, 问题正在处理中...\n")]
    public async Task EchoWithAFixedReplyAnswersEveryMessageWithIt(Framing framing, string expected)
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Echo], framing, o => o.EchoReply = "ok, 问题正在处理中...");
        await using var client = await server.ConnectAsync(ServiceKind.Echo);
        // The tutorial's client sends one question and prints the one answer.
        await client.SendAsync(Encoding.UTF8.GetBytes(framing == Framing.Raw ? "你好服务端,我是客户端小明!" : "你好服务端,我是客户端小明!\n"));
        Assert.Equal(expected, await client.ReadExactlyAsync(Encoding.UTF8.GetByteCount(expected)));
    }
}
