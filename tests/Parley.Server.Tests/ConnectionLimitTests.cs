using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public class ConnectionLimitTests
{
    [Fact]
    public async Task AConnectionOverTheTotalIsToldTheServerIsFullAndClosed()
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Chat, ServiceKind.Echo], Framing.Line, o => o.MaxConnections = 2);
        await using var first = await server.JoinChatAsync("first");
        await using var second = await server.ConnectAsync(ServiceKind.Echo);
        await second.SendLineAsync("ping");
        Assert.Equal("ping", await second.ReadLineAsync());

        await using var third = await server.ConnectAsync();
        Assert.Equal(["! server full (max 2 connections), try again later"], await third.ReadToEndAsync());

        // A slot freed is a slot for the next one.
        await second.DisposeAsync();
        await first.SendLineAsync("/ping freed");
        await first.ExpectLineAsync("* pong freed");
        await using var fourth = await server.RetryJoinChatAsync("fourth");
        await first.ExpectLineAsync("* fourth joined #lobby");
    }

    [Fact]
    public async Task ACrowdWiderThanTheStartLaneIsEachWelcomedWhileAMemberTalks()
    {
        // Newcomers become members a few at a time; each gives its turn back, so the last of a crowd gets in too.
        int count = Connections.ConnectionLimiter.StartWidth * 3;
        await using var server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line);
        await using var member = await server.JoinChatAsync("member");
        var crowd = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => server.ConnectAsync()));
        try
        {
            await member.SendLineAsync("/ping through");
            await member.ExpectLineAsync("* pong through");
            await Task.WhenAll(crowd.Select(c => c.ExpectLineAsync(l => l.StartsWith("* you are guest-", StringComparison.Ordinal), "the private welcome")));
        }
        finally
        {
            foreach (var client in crowd)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task AnAddressOverItsShareIsToldWhyAndLoopbackIsExemptByDefault()
    {
        await using (var exempt = await TestServer.StartAsync([ServiceKind.Echo], Framing.Line, o => o.MaxConnectionsPerAddress = 1))
        {
            await using var one = await exempt.ConnectAsync(ServiceKind.Echo);
            await using var two = await exempt.ConnectAsync(ServiceKind.Echo);
            await two.SendLineAsync("still served");
            Assert.Equal("still served", await two.ReadLineAsync());
        }

        await using var limited = await TestServer.StartAsync([ServiceKind.Echo], Framing.Line, o =>
        {
            o.MaxConnectionsPerAddress = 1;
            o.LimitLoopback = true;
        });
        await using var first = await limited.ConnectAsync(ServiceKind.Echo);
        await first.SendLineAsync("hi");
        Assert.Equal("hi", await first.ReadLineAsync());
        await using var second = await limited.ConnectAsync(ServiceKind.Echo);
        Assert.Equal(["! too many connections from 127.0.0.1 (max 1)"], await second.ReadToEndAsync());
    }

    // The server releases a slot when the closed connection's handler has finished, a moment after the close.
}

public class AccessControlTests
{
    [Theory]
    [InlineData("10.0.0.0/8", null, false)]
    [InlineData("127.0.0.0/8", null, true)]
    [InlineData(null, "127.0.0.1/32", false)]
    [InlineData("127.0.0.0/8", "127.0.0.0/24", false)]
    [InlineData(null, "192.168.0.0/16", true)]
    public async Task AllowAndDenyDecideWhoIsServed(string? allow, string? deny, bool served)
    {
        await using var server = await TestServer.StartAsync([ServiceKind.Echo], Framing.Line, o =>
        {
            if (allow is not null)
            {
                o.Allow.Add(System.Net.IPNetwork.Parse(allow));
            }

            if (deny is not null)
            {
                o.Deny.Add(System.Net.IPNetwork.Parse(deny));
            }
        });
        await using var client = await server.ConnectAsync(ServiceKind.Echo);
        await client.SendLineAsync("hello");
        Assert.Equal(served ? "hello" : "! access denied for 127.0.0.1", await client.ReadLineAsync());
    }
}
