namespace Parley.Redis.Tests;

/// <summary>Redis stopped and started again (empty) while members talk: nobody is dropped, senders are told, the chat heals.</summary>
public sealed class RedisOutageTests
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task WhileRedisIsDownSendersAreToldAndWhenItReturnsTheNodesAreOneChatAgain()
    {
        await using var cluster = await ClusterNodes.StartAsync(2);
        var (east, west) = (cluster.Nodes[0], cluster.Nodes[1]);
        await using var alice = await east.JoinChatAsync("alice");
        await using var bob = await west.JoinChatAsync("bob");
        await alice.ExpectLineAsync("* bob joined #lobby");

        await cluster.Redis.StopAsync();
        await alice.SendLineAsync("are you there?");
        await alice.ExpectLineAsync("! the other servers of this chat cannot be reached: your line was not sent");
        await bob.SendLineAsync("/msg alice psst");
        await bob.ExpectLineAsync("! the other servers of this chat cannot be reached: your message was not sent");
        // Both are still connected and served by their own node.
        await alice.SendLineAsync("/ping still here");
        await alice.ExpectLineAsync("* pong still here");

        // Redis comes back empty (nothing was saved): the nodes claim their names and publish their members again.
        await cluster.Redis.StartAgainAsync();
        using var deadline = new CancellationTokenSource(Recovery);
        int attempt = 0;
        while (true)
        {
            Assert.False(deadline.IsCancellationRequested, $"bob's private line never reached alice within {Recovery.TotalSeconds} s of Redis returning");
            await bob.SendLineAsync($"/msg alice back {++attempt}");
            await bob.SendLineAsync($"/ping {attempt}");
            string answer = await bob.ExpectLineAsync(line => line.StartsWith("! ", StringComparison.Ordinal) || line == $"* pong {attempt}", "an error or the pong");
            if (answer.StartsWith("* pong", StringComparison.Ordinal))
            {
                break;
            }

            await bob.ExpectLineAsync($"* pong {attempt}");
            await Task.Delay(200, CancellationToken.None);
        }

        await alice.ExpectLineAsync($"*bob* back {attempt}");
        await alice.SendLineAsync("and the room?");
        await bob.ExpectLineAsync("<alice> and the room?");
        await bob.SendLineAsync("/who");
        await bob.ExpectLineAsync(line => line.StartsWith("* members of #lobby: ", StringComparison.Ordinal)
            && line["* members of #lobby: ".Length..].Split(", ").Order().SequenceEqual(["alice", "bob"]), "alice and bob");
        await using var mallory = await west.ConnectAsync();
        await mallory.SendLineAsync("/nick alice");
        await mallory.ExpectLineAsync("! the name alice is taken");
    }
}
