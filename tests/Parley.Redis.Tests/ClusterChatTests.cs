using System.Text;
using Parley.Protocol.Chat;
using Parley.Testing;

namespace Parley.Redis.Tests;

/// <summary>Several nodes in process on one real redis-server are one chat, from every user's point of view.</summary>
public sealed class ClusterChatTests
{
    [Fact]
    public async Task ThreeNodesAreOneChatForNamesWhoRoomsMessagesAndTopics()
    {
        await using var cluster = await ClusterNodes.StartAsync(3);
        var (east, west, north) = (cluster.Nodes[0], cluster.Nodes[1], cluster.Nodes[2]);
        await using var alice = await east.JoinChatAsync("alice");
        await using var bob = await west.JoinChatAsync("bob");
        await alice.ExpectLineAsync("* bob joined #lobby");
        await using var carol = await north.JoinChatAsync("carol");
        await alice.ExpectLineAsync("* carol joined #lobby");
        await bob.ExpectLineAsync("* carol joined #lobby");

        await alice.SendLineAsync("hello from the east");
        await bob.ExpectLineAsync("<alice> hello from the east");
        await carol.ExpectLineAsync("<alice> hello from the east");

        await carol.SendLineAsync("/who");
        await carol.ExpectLineAsync(line => line.StartsWith("* members of #lobby: ", StringComparison.Ordinal)
            && line["* members of #lobby: ".Length..].Split(", ").Order().SequenceEqual(["alice", "bob", "carol"]), "alice, bob and carol");

        await bob.SendLineAsync("/join dev");
        await carol.ExpectLineAsync("* bob left #lobby");
        await alice.SendLineAsync("/rooms");
        await alice.ExpectLineAsync("* rooms: #dev (1), #lobby (2)");

        await using var mallory = await north.ConnectAsync();
        await mallory.SendLineAsync("/nick ALICE");
        await mallory.ExpectLineAsync("! the name ALICE is taken");

        await carol.SendLineAsync("/msg bob psst, from the north");
        await bob.ExpectLineAsync("*carol* psst, from the north");
        await carol.SendLineAsync("/msg nobody hello?");
        await carol.ExpectLineAsync("! no such user: nobody");

        await alice.SendLineAsync("/topic one chat, three servers");
        await carol.ExpectLineAsync("* alice set the topic of #lobby: one chat, three servers");
        await using var dave = await west.ConnectAsync();
        await dave.ExpectLineAsync("* the topic of #lobby is: one chat, three servers");
    }

    [Fact]
    public async Task EveryNodeSeesARoomsLinesInOneOrderWithTheSameIds()
    {
        await using var cluster = await ClusterNodes.StartAsync(2);
        var (east, west) = (cluster.Nodes[0], cluster.Nodes[1]);
        await using var eastListener = await JsonListenerAsync(east, "eastear");
        await using var westListener = await JsonListenerAsync(west, "westear");
        await using var alice = await east.JoinChatAsync("alice");
        await using var bob = await west.JoinChatAsync("bob");

        const int PerSender = 200;
        // Both send at once, in bursts, so lines from the two nodes interleave in Redis.
        await Task.WhenAll(
            alice.SendAsync(Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(1, PerSender).Select(i => $"a{i}\n")))),
            bob.SendAsync(Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(1, PerSender).Select(i => $"b{i}\n")))));

        var heardEast = await ReadMessagesAsync(eastListener, PerSender * 2);
        var heardWest = await ReadMessagesAsync(westListener, PerSender * 2);
        Assert.Equal(heardEast, heardWest);
        var ids = heardEast.Select(m => m.Id).ToList();
        Assert.Equal(Enumerable.Range((int)ids[0], ids.Count).Select(i => (long)i), ids);
        Assert.Equal(Enumerable.Range(1, PerSender).Select(i => $"a{i}"), heardEast.Where(m => m.From == "alice").Select(m => m.Text));
        Assert.Equal(Enumerable.Range(1, PerSender).Select(i => $"b{i}"), heardEast.Where(m => m.From == "bob").Select(m => m.Text));
    }

    [Fact]
    public async Task ReplayHistoryAndResumeWorkOnAnotherNode()
    {
        await using var cluster = await ClusterNodes.StartAsync(2);
        var (east, west) = (cluster.Nodes[0], cluster.Nodes[1]);
        await using var alice = await east.JoinChatAsync("alice");
        await using var echo = await JsonListenerAsync(east, "echo");
        for (int i = 1; i <= 5; i++)
        {
            await alice.SendLineAsync($"line {i}");
        }

        var said = await ReadMessagesAsync(echo, 5);

        await using var late = await west.ConnectAsync();
        await late.SendLineAsync("/format json");
        await late.SendLineAsync("/history after " + said[1].Id);
        var page = new List<ChatEvent>();
        while (page.Count < 3)
        {
            string line = await late.ExpectLineAsync(l => l.Contains("\"history\":true", StringComparison.Ordinal) && l.Contains("line ", StringComparison.Ordinal), "a history line");
            Assert.True(ChatEventParser.TryParse(Encoding.UTF8.GetBytes(line), out var e));
            if (e.Id > said[1].Id)
            {
                page.Add(e);
            }
        }

        Assert.Equal(said.Skip(2).Select(m => (m.Id, m.Text)), page.Select(e => (e.Id!.Value, e.Text)));

        // A new member on the other node is first replayed the room's recent lines, marked as history.
        await using var newcomer = await west.ConnectAsync();
        await newcomer.ExpectLineAsync(line => line.EndsWith("<alice> line 5", StringComparison.Ordinal) && line.StartsWith('['), "line 5 replayed");
    }

    [Fact]
    public async Task AnOperatorKicksAMemberOnAnotherNode()
    {
        await using var cluster = await ClusterNodes.StartAsync(2, o => o.OperatorPassword = "root-of-trust");
        var (east, west) = (cluster.Nodes[0], cluster.Nodes[1]);
        await using var op = await east.JoinChatAsync("op");
        await using var troll = await west.JoinChatAsync("troll");
        await using var bystander = await west.JoinChatAsync("bystander");
        await op.SendLineAsync("/oper root-of-trust");
        await op.ExpectLineAsync("* you are now an operator");
        await op.SendLineAsync("/kick troll spamming");
        Assert.Contains("! disconnected: kicked by op: spamming", await troll.ReadToEndAsync());
        await op.ExpectLineAsync("* troll left #lobby (kicked by op: spamming)");
        await bystander.ExpectLineAsync("* troll left #lobby (kicked by op: spamming)");

        // Its name is free again, on any node.
        await using var again = await east.JoinChatAsync("troll");
    }

    [Fact]
    public async Task ABanOnOneNodeCutsOffAndRefusesTheAddressOnEveryNode()
    {
        await using var cluster = await ClusterNodes.StartAsync(2, o => o.OperatorPassword = "root-of-trust");
        var (east, west) = (cluster.Nodes[0], cluster.Nodes[1]);
        await using var op = await east.JoinChatAsync("op");
        await using var elsewhere = await west.JoinChatAsync("elsewhere");
        await op.SendLineAsync("/oper root-of-trust");
        await op.ExpectLineAsync("* you are now an operator");

        // Everyone here is 127.0.0.1: the operator's ban reaches the member on the other node too.
        await op.SendLineAsync("/ban 127.0.0.1");
        Assert.Contains("! disconnected: banned by op", await elsewhere.ReadToEndAsync());
        await using var again = await west.ConnectAsync();
        Assert.Equal(["! 127.0.0.1 is banned from this server"], await again.ReadToEndAsync());
    }

    internal static async Task<LineClient> JsonListenerAsync(TestServer node, string name)
    {
        var client = await node.JoinChatAsync(name);
        await client.SendLineAsync("/format json");
        await client.SendLineAsync("/ping ready");
        await client.ExpectLineAsync(line => line.Contains("\"type\":\"pong\"", StringComparison.Ordinal), "pong");
        return client;
    }

    internal static async Task<List<(long Id, string From, string Text)>> ReadMessagesAsync(LineClient client, int count)
    {
        var messages = new List<(long, string, string)>();
        while (messages.Count < count)
        {
            string line = await client.ExpectLineAsync(l => l.Contains("\"type\":\"message\"", StringComparison.Ordinal), "a message");
            Assert.True(ChatEventParser.TryParse(Encoding.UTF8.GetBytes(line), out var e), line);
            if (!e.History)
            {
                messages.Add((e.Id ?? -1, e.From, e.Text));
            }
        }

        return messages;
    }
}
