using System.Diagnostics;
using System.Net;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public class LifecycleTests
{
    [Fact]
    public async Task ShutdownTellsEveryChatClientAndClosesWithinFiveSeconds()
    {
        var server = await TestServer.StartAsync(ServiceKind.Chat);
        await using var alice = await server.JoinChatAsync("alice");
        await using var bob = await server.JoinChatAsync("bob");
        await bob.SendLineAsync("/format json");
        await bob.ExpectLineAsync(l => l.Contains("format is now json", StringComparison.Ordinal), "json notice");

        var clock = Stopwatch.StartNew();
        await server.StopAsync();
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));

        Assert.Contains("* server shutting down", await alice.ReadToEndAsync());
        Assert.Contains(await bob.ReadToEndAsync(), l => l.Contains("\"type\":\"notice\"", StringComparison.Ordinal) && l.Contains("server shutting down", StringComparison.Ordinal));
        await server.DisposeAsync();
    }

    [Fact]
    public async Task AServerStoppedWithClientsConnectedCanStartAgainOnTheSamePortAtOnce()
    {
        var first = await TestServer.StartAsync(ServiceKind.Chat, ServiceKind.Greet);
        int chatPort = first.EndPointOf(ServiceKind.Chat).Port;
        int greetPort = first.EndPointOf(ServiceKind.Greet).Port;
        var clients = new List<LineClient>();
        for (int i = 0; i < 5; i++)
        {
            clients.Add(await first.JoinChatAsync($"user{i}"));
            clients.Add(await first.ConnectAsync(ServiceKind.Greet));
        }

        // The server closes first, so its side of every connection sits in TIME_WAIT: the case port reuse is for.
        await first.StopAsync();
        await first.DisposeAsync();

        await using var second = await TestServer.StartAsync(o =>
        {
            o.Services.Add(new ServiceBinding(ServiceKind.Chat, chatPort));
            o.Services.Add(new ServiceBinding(ServiceKind.Greet, greetPort));
        });
        await using var again = await second.JoinChatAsync("again");
        Assert.Equal(chatPort, second.EndPointOf(ServiceKind.Chat).Port);
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task ATakenPortIsReportedInOneLine()
    {
        await using var first = await TestServer.StartAsync(ServiceKind.Echo);
        int port = first.EndPointOf(ServiceKind.Echo).Port;
        var failure = await Assert.ThrowsAsync<ServerStartException>(() => TestServer.StartAsync(o => o.Services.Add(new ServiceBinding(ServiceKind.Chat, port))));
        Assert.Equal($"cannot listen on 127.0.0.1:{port}: address already in use", failure.Message);
    }

    [Fact]
    public async Task ServesOverIpv6Loopback()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.BindAddress = IPAddress.IPv6Loopback;
            o.Services.Add(new ServiceBinding(ServiceKind.Greet, 0));
        });
        await using var client = await server.ConnectAsync(ServiceKind.Greet);
        Assert.Equal("welcome!", await client.ReadLineAsync());
        Assert.StartsWith("greet listening on [::1]:", server.Server.Endpoints[0].ToString(), StringComparison.Ordinal);
    }
}
