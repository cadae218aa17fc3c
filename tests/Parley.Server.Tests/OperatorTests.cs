using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public class OperatorTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o =>
    {
        o.OperatorPassword = "root-of-trust";
        o.LimitLoopback = true;
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task OnlyAnOperatorMayKickAndTheRoomSeesWhoDidItAndWhy()
    {
        await using var op = await _server.JoinChatAsync("op");
        await using var troll = await _server.JoinChatAsync("troll");
        await using var bystander = await _server.JoinChatAsync("bystander");

        await troll.SendLineAsync("/kick op");
        await troll.ExpectLineAsync("! only operators may /kick (see /oper)");
        await op.SendLineAsync("/oper wrong");
        await op.ExpectLineAsync("! wrong operator password");
        await op.SendLineAsync("/kick troll");
        await op.ExpectLineAsync("! only operators may /kick (see /oper)");

        await op.SendLineAsync("/oper root-of-trust");
        await op.ExpectLineAsync("* you are now an operator");
        await op.SendLineAsync("/kick TROLL spamming the room");
        Assert.Contains("! disconnected: kicked by op: spamming the room", await troll.ReadToEndAsync());
        await bystander.ExpectLineAsync("* troll left #lobby (kicked by op: spamming the room)");
    }

    [Fact]
    public async Task ABanCutsOffAnAddressAndRefusesItsNewConnections()
    {
        await using var op = await _server.JoinChatAsync("op2");
        await op.SendLineAsync("/oper root-of-trust");
        await op.ExpectLineAsync("* you are now an operator");
        await op.SendLineAsync("/ban not-an-address");
        await op.ExpectLineAsync("! usage: /ban ADDRESS (an IP address, such as 203.0.113.7)");

        // Everyone here is 127.0.0.1, so the operator bans its own address too: all are cut off, none may return.
        await using var other = await _server.JoinChatAsync("other");
        await op.SendLineAsync("/ban 127.0.0.1");
        Assert.Contains("! disconnected: banned by op2", await other.ReadToEndAsync());
        await using var again = await _server.ConnectAsync();
        Assert.Equal(["! 127.0.0.1 is banned from this server"], await again.ReadToEndAsync());
    }
}
